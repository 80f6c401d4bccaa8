# callrec: `make run` starts the product, `make test` runs the tests. Both work on a fresh Debian 12 machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app webui
STAMP := $(VENV)/.installed

.PHONY: run test test-postgres demo bench vm-smoke migrate clean

$(STAMP): requirements.txt requirements-test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $(STAMP)

migrate: $(STAMP)
	$(FLASK) db upgrade

## run: web UI on CALLREC_WEB_HOST:CALLREC_WEB_PORT (127.0.0.1:8080) and the controller, on the embedded defaults
run: migrate
	$(FLASK) create-admin admin --generate --if-none
	bash scripts/run.sh

## test: every test (unit, integration, emulator, browser) on SQLite
test: $(STAMP)
	$(PY) -m pytest

## test-postgres: the database tests again, against CALLREC_TEST_DATABASE_URL (PostgreSQL)
test-postgres: $(STAMP)
	$(PY) -m pytest -m db

## demo: web UI + controller + FreeSWITCH emulator with demo accounts, scripted calls and a local SMTP sink
demo: migrate
	bash scripts/demo.sh

bench: $(STAMP)
	$(PY) -m bench

vm-smoke:
	vagrant ssh -c 'bash /vagrant/vagrant/vm-smoke.sh'

clean:
	rm -rf $(VENV) var .pytest_cache
