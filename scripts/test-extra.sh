# Sourced by scripts/test.sh after the core suites: one `suite NAME COMMAND...` line per extra suite.
# Append only.
suite browser make -s browser
suite tls tests/tls/test_tls.sh
suite sdk make -s sdk
suite store-postgresql scripts/test-pg.sh
suite bench-smoke bench/run.sh sqlite --events 100000 --smoke
suite config tests/ops/test_config.sh
suite service tests/ops/test_service.sh
suite progress tests/ops/test_progress.sh
suite man tests/ops/test_man.sh
suite install tests/ops/test_install.sh
suite package tests/ops/test_deb.sh
suite integration-postgresql scripts/test-integration-pg.sh
suite fuzz make -s fuzz FUZZ_SECONDS=20
suite sanitizers make -s san
suite abuse tests/abuse/run.sh
suite faults tests/abuse/run.sh faults
