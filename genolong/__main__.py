"""`python -m genolong` is the `genolong` command."""

import sys

from genolong.cli import main

sys.exit(main())
