"""``python -m wecal.sandbox --port N``: serve a generated sandbox."""

import sys

from ._serve import main

sys.exit(main())
