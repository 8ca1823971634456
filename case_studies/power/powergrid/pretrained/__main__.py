"""``python -m powergrid.pretrained export CHECKPOINT SETUP [ALGO]``: write the pickle-free bundle."""

import sys

from powergrid.pretrained import BUNDLED_ALGO, export

if len(sys.argv) < 4 or sys.argv[1] != "export":
    sys.exit("usage: python -m powergrid.pretrained export CHECKPOINT SETUP [ALGO]")
print(export(sys.argv[2], sys.argv[3], *(sys.argv[4:5] or [BUNDLED_ALGO])))
