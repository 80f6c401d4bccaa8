"""The demo data set: shared by `make demo`, the sample FreeSWITCH directory and the tests.

Cross-system contract: `freeswitch/conf/directory/default/*.xml` holds one user per DEMO_ACCOUNTS entry
(same number); tests/integration/test_freeswitch_conf.py checks that they stay in step.
"""

DEMO_ACCOUNTS = (
    # number, display name, email, product, customer
    ("1000", "Alice", "alice@example.test", "Record everything", "Acme Ltd"),
    ("1001", "Bob", "bob@example.test", "Record everything", "Acme Ltd"),
    ("1002", "Carol", "carol@example.test", "Manual only", "Home Users"),
    ("1003", "Dave", "dave@example.test", "No recording", "Home Users"),
)
