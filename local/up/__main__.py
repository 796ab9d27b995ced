import sys

from local.up.main import main

sys.exit(main())
