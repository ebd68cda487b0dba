#!/usr/bin/env bash
# Scenario 22 (issue 15): HTTPS out of the box, with a real ACME server.
# Debian's pebble runs in the container (its API behind a CA made here and
# trusted by the container; it validates http-01 challenges by connecting
# to port 80 of the names, which /etc/hosts points at the container), and
# the variants' --acme-server points at it. Checked on the booted host:
#   - blue (tls acme): apt-get install gives HTTPS for blue.example.org and
#     www.blue.example.org with a certificate curl verifies against
#     pebble's root; http:// answers 301 to https:// (ACME challenges
#     aside); HTTPS_ONLY reached the settings (Django sends HSTS);
#     `demo-blue tls status` names issuer, names and days left; the
#     maintenance page works over HTTPS; `nginx -t` passes;
#   - a forced renewal swaps the certificate (a new serial) under a load
#     loop over HTTPS with 0 failed requests; certbot's own `renew` (what
#     its timer runs) does too, through the stored webroot and deploy hook;
#   - red (tls acme) installed while the ACME server is down: the site
#     installs and serves plain HTTP, postinst says what failed and the
#     command that retries; once pebble is back `demo-red tls renew`
#     switches it to HTTPS with no package install, with its own
#     certificate (another serial, red's names);
#   - green (tls files): the certificate and key local.env names are
#     served; a key that does not match is refused and changes nothing;
#   - an upgrade asks for no new certificate while one is valid;
#   - purge of red deletes red's certificate and renewal, never blue's;
#   - remove keeps blue's certificate: a reinstall serves HTTPS at once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container tls
djdd_setup

ACME=https://localhost:14000/dir
step "pebble, the ACME server, inside the container"
in_ct_sh '
printf "127.0.0.1 %s\n" blue.example.org www.blue.example.org red.example.org \
    www.red.example.org green.example.org www.green.example.org >>/etc/hosts
mkdir -p /etc/pebble
cd /etc/pebble
# A CA for pebble'\''s own API (certbot must trust it), and its certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=acceptance pebble API CA" -keyout api-ca.key -out api-ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=localhost" -keyout api.key -out api.csr 2>/dev/null
printf "subjectAltName=DNS:localhost,IP:127.0.0.1\n" >api.ext
openssl x509 -req -in api.csr -CA api-ca.pem -CAkey api-ca.key -CAcreateserial \
    -days 2 -extfile api.ext -out api.pem 2>/dev/null
cp api-ca.pem /usr/local/share/ca-certificates/acceptance-pebble-api.crt
update-ca-certificates >/dev/null 2>&1
cat >config.json <<EOF
{"pebble": {"listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
  "certificate": "/etc/pebble/api.pem", "privateKey": "/etc/pebble/api.key",
  "httpPort": 80, "tlsPort": 5001, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
'
# Each start is a transient unit of its own name (pebble-1, pebble-2...):
# systemd unloads a stopped transient unit when it gets to it, and a
# systemd-run of the same name before that fails ("Unit pebble.service was
# already loaded or has a fragment file": once in CI, bookworm).
PEBBLE_STARTS=0
PEBBLE_UNIT=""
stop_pebble() {
    in_ct systemctl stop "$PEBBLE_UNIT"
}
start_pebble() {
    PEBBLE_STARTS=$((PEBBLE_STARTS + 1))
    PEBBLE_UNIT="pebble-$PEBBLE_STARTS.service"
    # pebble keeps its accounts in memory: a restarted pebble knows none,
    # so the account certbot registered with the last one goes (a real ACME
    # server keeps it).
    in_ct rm -rf /etc/letsencrypt/accounts/localhost:14000
    in_ct systemd-run --quiet --unit="$PEBBLE_UNIT" --setenv=PEBBLE_VA_NOSLEEP=1 \
        --setenv=PEBBLE_WFE_NONCEREJECT=0 /usr/bin/pebble -config /etc/pebble/config.json ||
        fail "systemd-run of $PEBBLE_UNIT failed"
    wait_for "pebble's directory" 30 in_ct curl -fsS -o /dev/null "$ACME"
    # Its root (made anew at each start) is what clients verify against;
    # the last one's stays in the bundle (certificates it issued still serve).
    in_ct sh -c 'curl -fsS https://localhost:15000/roots/0 >>/etc/pebble/root.pem' ||
        fail "pebble's root certificate"
}
start_pebble

# https_get URL: GET over HTTPS inside the container, verified against
# pebble's root (or CAFILE), names resolved by /etc/hosts. Sets
# HTTP_STATUS, HTTP_BODY, HTTP_HEADERS.
https_get() {
    local url="$1" ca="${CAFILE:-/etc/pebble/root.pem}" out
    out="$(in_ct curl -sS --max-time 15 --cacert "$ca" -D /run/acc-headers -w '\n%{http_code}' "$url" 2>&1 || true)"
    HTTP_STATUS="${out##*$'\n'}"
    HTTP_BODY="${out%$'\n'*}"
    HTTP_HEADERS="$(in_ct cat /run/acc-headers 2>/dev/null || true)"
}
# serial NAME: the serial of the certificate served for NAME on 443.
serial() {
    # shellcheck disable=SC2016 # $1 is the inner shell's
    in_ct sh -c 'openssl s_client -connect 127.0.0.1:443 -servername "$1" </dev/null 2>/dev/null |
        openssl x509 -noout -serial' sh "$1"
}

step "blue and red get tls acme from pebble, green tls files"
"$DJDD" variant demo blue --tls acme --acme-server "$ACME" --acme-email ops@example.org >/dev/null ||
    fail "djdd variant demo blue --tls acme failed"
"$DJDD" variant demo red --tls acme --acme-server "$ACME" >/dev/null || fail "djdd variant demo red --tls acme failed"
[ -e "$DJDD_DIR/variants/demo/green.toml" ] ||
    "$DJDD" variant demo green --domain green.example.org --tls files >/dev/null || fail "djdd variant demo green failed"
# Bad input names the option and changes nothing.
before="$(cat "$DJDD_DIR/variants/demo/red.toml")"
for bad in "--acme-server http://localhost:14000/dir" "--acme-email not-an-address" "--tls sometimes"; do
    # shellcheck disable=SC2086
    if out="$("$DJDD" variant demo red $bad 2>&1)"; then fail "djdd variant demo red $bad was accepted"; fi
    assert_contains "$out" "${bad%% *}" "the refusal of $bad"
done
assert_eq "$before" "$(cat "$DJDD_DIR/variants/demo/red.toml")" "red's variant file after refused options"

step "blue v1 installed: HTTPS for both names, http redirects"
ensure_site blue v1
assert_contains "$APT_OUT" "serving HTTPS" "blue's postinst"
for name in blue.example.org www.blue.example.org; do
    https_get "https://$name/"
    assert_eq 200 "$HTTP_STATUS" "GET https://$name/ (verified against pebble's root): $HTTP_BODY"
    assert_contains "$HTTP_BODY" "release v1" "blue's home page over HTTPS"
done
assert_contains "$HTTP_HEADERS" "strict-transport-security" "HSTS from Django (HTTPS_ONLY=true reached the settings)"
in_ct grep -qx 'HTTPS_ONLY="true"' /var/lib/demo-site/blue/tls.env || fail "tls.env does not say HTTPS_ONLY=true"
assert_http 301 http://127.0.0.1/some/page?x=1 blue.example.org
loc="$(in_ct curl -sS -o /dev/null -w '%{redirect_url}' -H 'Host: blue.example.org' http://127.0.0.1/some/page?x=1)"
assert_eq "https://blue.example.org/some/page?x=1" "$loc" "the redirect of http://blue.example.org/some/page?x=1"
in_ct install -d /var/lib/demo-site/blue/acme/.well-known/acme-challenge
in_ct sh -c 'echo token-123 >/var/lib/demo-site/blue/acme/.well-known/acme-challenge/t1'
assert_http 200 http://127.0.0.1/.well-known/acme-challenge/t1 blue.example.org
assert_eq token-123 "$HTTP_BODY" "an ACME challenge over plain HTTP"
status="$(in_ct demo-blue tls status)" || fail "demo-blue tls status failed: $status"
printf '%s\n' "$status" >&2
assert_contains "$status" "serving HTTPS" "tls status"
assert_contains "$status" "Pebble" "tls status: the issuer"
assert_contains "$status" "DNS:www.blue.example.org" "tls status: the names"
assert_contains "$status" "days left" "tls status: the expiry"
in_ct nginx -t -q || fail "nginx -t fails with blue on HTTPS"

step "the maintenance page over HTTPS"
in_ct demo-blue offline >/dev/null
https_get https://blue.example.org/
assert_eq 503 "$HTTP_STATUS" "GET https://blue.example.org/ while offline"
in_ct demo-blue online >/dev/null
https_get https://blue.example.org/
assert_eq 200 "$HTTP_STATUS" "GET https://blue.example.org/ back online"

step "a forced renewal under load over HTTPS: a new certificate, 0 failed requests"
old_serial="$(serial blue.example.org)"
LOAD_CAFILE=/etc/pebble/root.pem load_start renew blue.example.org https://blue.example.org/ 300 10
out="$(in_ct demo-blue tls renew --force 2>&1)" || fail "demo-blue tls renew --force failed: $out"
sleep 2
load_stop renew
assert_load 300 10
new_serial="$(serial blue.example.org)"
[ "$new_serial" != "$old_serial" ] || fail "the renewal did not change the certificate served ($old_serial)"
acc_log "renewed: $old_serial -> $new_serial"

step "certbot's own renewal (what certbot.timer runs) uses the stored webroot and deploy hook"
renewal="$(in_ct cat /etc/letsencrypt/renewal/demo-blue.conf)"
assert_contains "$renewal" "authenticator = webroot" "blue's renewal configuration"
assert_contains "$renewal" "renew_hook = /usr/bin/demo-blue tls deployed" "blue's renewal configuration"
before="$(serial blue.example.org)"
out="$(in_ct certbot renew --force-renewal --no-random-sleep-on-renew 2>&1)" || fail "certbot renew failed: $out"
# The hook's reload only signals nginx: its new workers come a moment later.
for _ in $(seq 1 50); do
    [ "$(serial blue.example.org)" = "$before" ] || break
    sleep 0.2
done
[ "$(serial blue.example.org)" != "$before" ] ||
    fail "certbot renew did not change the certificate nginx serves (the deploy hook); certbot said: $out"

step "red installed while the ACME server is down: HTTP, the message, then tls renew"
stop_pebble
ensure_site red v1
assert_contains "$APT_OUT" "demo-red tls renew" "red's postinst names the retry command"
assert_http 200 http://127.0.0.1/ red.example.org
assert_contains "$HTTP_BODY" "release v1" "red's home page over plain HTTP"
in_ct grep -qx 'HTTPS_ONLY="false"' /var/lib/demo-site/red/tls.env || fail "red's tls.env does not say HTTPS_ONLY=false"
start_pebble
out="$(in_ct demo-red tls renew 2>&1)" || fail "demo-red tls renew failed: $out"
https_get https://red.example.org/
assert_eq 200 "$HTTP_STATUS" "GET https://red.example.org/ after tls renew (verified against pebble's new root)"
assert_http 301 http://127.0.0.1/ red.example.org
red_names="$(in_ct openssl x509 -noout -ext subjectAltName -in /etc/letsencrypt/live/demo-red/fullchain.pem)"
assert_contains "$red_names" "DNS:www.red.example.org" "red's certificate names"
assert_not_contains "$red_names" "blue" "red's certificate names"
[ "$(serial red.example.org)" != "$(serial blue.example.org)" ] || fail "red and blue serve the same certificate"

step "green: tls files from local.env; a key that does not match changes nothing"
in_ct_sh '
install -d -m 0755 /etc/ssl/green
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=green.example.org" -addext "subjectAltName=DNS:green.example.org,DNS:www.green.example.org" \
    -keyout /etc/ssl/private/green.key -out /etc/ssl/green/fullchain.pem 2>/dev/null
chmod 0600 /etc/ssl/private/green.key
install -d -m 0750 /etc/demo-site/green
printf "TLS_CERTIFICATE=\"/etc/ssl/green/fullchain.pem\"\nTLS_KEY=\"/etc/ssl/private/green.key\"\n" >/etc/demo-site/green/local.env
'
ensure_site green v1
CAFILE=/etc/ssl/green/fullchain.pem https_get https://green.example.org/
assert_eq 200 "$HTTP_STATUS" "GET https://green.example.org/ with the given certificate"
green_serial="$(serial green.example.org)"
in_ct openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj /CN=other -keyout /etc/ssl/private/other.key -out /tmp/other.pem 2>/dev/null
in_ct chmod 0600 /etc/ssl/private/other.key
in_ct sed -i 's|/etc/ssl/private/green.key|/etc/ssl/private/other.key|' /etc/demo-site/green/local.env
if out="$(in_ct demo-green tls renew 2>&1)"; then fail "tls renew accepted a key that does not match: $out"; fi
assert_contains "$out" "does not match the certificate" "tls renew with a wrong key"
assert_eq "$green_serial" "$(serial green.example.org)" "the certificate served after the refused key"
in_ct nginx -t -q || fail "nginx -t fails after the refused key"
in_ct sed -i 's|/etc/ssl/private/other.key|/etc/ssl/private/green.key|' /etc/demo-site/green/local.env
in_ct chmod 0644 /etc/ssl/private/green.key
if out="$(in_ct demo-green tls renew 2>&1)"; then fail "tls renew accepted a world-readable key: $out"; fi
assert_contains "$out" "readable by nobody else" "tls renew with a world-readable key"
in_ct chmod 0600 /etc/ssl/private/green.key
in_ct demo-green tls renew >/dev/null 2>&1 || fail "demo-green tls renew with the right files failed"

step "an upgrade asks for no new certificate while one is valid"
before="$(serial blue.example.org)"
stop_pebble
ensure_site blue v2
assert_not_contains "$APT_OUT" "getting a certificate" "blue's upgrade"
https_get https://blue.example.org/
assert_eq 200 "$HTTP_STATUS" "GET https://blue.example.org/ after the upgrade"
assert_contains "$HTTP_BODY" "release v2" "blue's home page after the upgrade"
assert_eq "$before" "$(serial blue.example.org)" "blue's certificate after the upgrade"

step "purge of red removes red's certificate only"
ct_apt purge demo-site-red || fail "apt-get purge demo-site-red failed: $APT_OUT"
in_ct test ! -e /etc/letsencrypt/renewal/demo-red.conf || fail "red's renewal configuration is left after purge"
in_ct test ! -e /etc/letsencrypt/live/demo-red || fail "red's certificate is left after purge"
in_ct test -e /etc/letsencrypt/renewal/demo-blue.conf || fail "purging red removed blue's renewal configuration"
https_get https://blue.example.org/
assert_eq 200 "$HTTP_STATUS" "GET https://blue.example.org/ after red's purge"
in_ct nginx -t -q || fail "nginx -t fails after red's purge"

step "remove keeps blue's certificate: a reinstall serves HTTPS at once, asking for nothing"
before="$(serial blue.example.org)"
ct_apt remove demo-site-blue || fail "apt-get remove demo-site-blue failed: $APT_OUT"
in_ct test -e /etc/letsencrypt/live/demo-blue/fullchain.pem || fail "remove deleted blue's certificate"
ct_apt install demo-site-blue || fail "apt-get install demo-site-blue (again) failed: $APT_OUT"
assert_not_contains "$APT_OUT" "getting a certificate" "blue's reinstall"
https_get https://blue.example.org/
assert_eq 200 "$HTTP_STATUS" "GET https://blue.example.org/ after remove and reinstall"
assert_eq "$before" "$(serial blue.example.org)" "blue's certificate after remove and reinstall"

acc_log "scenario 22 passed"
