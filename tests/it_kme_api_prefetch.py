#!/usr/bin/python3
"""it_kme_api_prefetch.py — it_kme_api.py again with prefetch_keys = 16, so
that keys of the default size come from the prefetched fast path."""
import os
import sys

os.environ["KME_PREFETCH"] = "16"
here = os.path.dirname(os.path.abspath(__file__))
os.execv(sys.executable, [sys.executable, os.path.join(here, "it_kme_api.py")])
