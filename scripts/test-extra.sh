# Sourced by scripts/test.sh after the core suites: one `suite NAME COMMAND...` line per extra suite.
# Append only.
suite browser make -s browser
suite tls tests/tls/test_tls.sh
suite sdk make -s sdk
suite store-postgresql scripts/test-pg.sh
