"""A short run of bench/load_test.py: 50 clients for 10 s against a daemon
tracing targets whose probes fire back to back. Asserts what must hold on
any machine, however loaded: no crash, answers to every request, RSS under
its bound, fds back to the baseline, targets unharmed. Speed is printed,
never asserted."""
import os
import sys
import unittest

from e2e_support import PROBED, target

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))  # without meson
import load_test  # noqa: E402


class LoadTest(unittest.TestCase):
    def test_fifty_clients_with_probes_firing(self):
        figures, failures = load_test.run(PROBED, target("probe_target_pie_O2"),
                                          clients=50, seconds=10, ntargets=2)
        if figures:
            load_test.print_figures(figures)
        self.assertEqual(failures, [])
        self.assertEqual(figures["clients"], 50)
        # Every kind of client got through to the daemon.
        self.assertGreater(figures["requests"], 0)
        self.assertGreater(figures["events_read"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
