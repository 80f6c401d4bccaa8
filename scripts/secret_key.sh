# Sourced by run.sh and demo.sh: make sure the web UI and the controller share a secret key that is not the
# published development one. When neither the environment nor CALLREC_CONFIG_FILE sets CALLREC_SECRET_KEY,
# use (and on first run create, mode 0600) the random key in var/secret_key and export it.
# CALLREC_SECRET_KEY_FILE names another file (the tests use it).
secret_file="${CALLREC_SECRET_KEY_FILE:-var/secret_key}"
configured="$(.venv/bin/python -c 'from callrec.config import DEV_SECRET_KEY, load_config
print("no" if load_config()["CALLREC_SECRET_KEY"] in (DEV_SECRET_KEY, "") else "yes")')"
if [ "$configured" = no ]; then
    if [ ! -s "$secret_file" ]; then
        mkdir -p "$(dirname "$secret_file")"
        (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))' > "$secret_file.tmp")
        mv "$secret_file.tmp" "$secret_file"
        echo "Created a random secret key in $secret_file (keep it: it signs sessions and emailed links)" >&2
    fi
    chmod 600 "$secret_file"
    CALLREC_SECRET_KEY="$(cat "$secret_file")"
    export CALLREC_SECRET_KEY
fi
unset secret_file configured
