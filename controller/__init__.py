"""The Event Socket controller: records calls by each account's effective policy."""
