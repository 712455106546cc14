import sys

from hikscan.cli.app import main

sys.exit(main())
