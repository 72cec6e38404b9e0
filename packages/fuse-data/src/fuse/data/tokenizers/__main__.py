"""``python -m fuse.data.tokenizers``: see ``fuse.data.tokenizers._commands``."""

import sys

from fuse.data.tokenizers._commands import main

if __name__ == "__main__":
    sys.exit(main())
