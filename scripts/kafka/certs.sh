#!/usr/bin/env bash
# Certificates for a broker with TLS listeners (kafka.sh start --secure DIR),
# made with openssl, for tests and local runs only:
#
#   certs.sh DIR [--host H]...
#
# writes into DIR (PEM, keys unencrypted PKCS#8):
#   ca.crt, ca.key            the authority every certificate below is signed by
#   broker.pem                the broker's key and certificate (names localhost,
#                             127.0.0.1 and each --host), what kafka.sh serves
#   client.crt, client.key    a client certificate (CN=ridepulse-client) for mutual TLS
#   other-ca.crt              an unrelated authority, for tests of a wrong CA
#   users                     SASL users, one "name password" per line
# Existing files are kept: run it again and nothing changes.
set -euo pipefail

dir=${1:-}
[ -n "$dir" ] || { echo "usage: certs.sh DIR [--host H]..." >&2; exit 2; }
shift
hosts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --host) hosts+=("$2"); shift 2 ;;
    *) echo "certs.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
command -v openssl >/dev/null || { echo "certs.sh: openssl is required" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
[ -f users ] && [ -f broker.pem ] && [ -f client.crt ] && [ -f other-ca.crt ] && exit 0

days=3650
authority() { # name subject
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.crt" -days $days -subj "$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
signed() { # name subject extensions-file
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days $days -extfile "$3" 2>/dev/null
  rm -f "$1.csr"
}

authority ca "/CN=ridepulse-test-ca"
authority other-ca "/CN=ridepulse-other-ca"
rm -f other-ca.key

san="DNS:localhost,IP:127.0.0.1"
for h in "${hosts[@]}"; do
  if [[ "$h" =~ ^[0-9.]+$ ]]; then san="$san,IP:$h"; else san="$san,DNS:$h"; fi
done
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >broker.ext
signed broker "/CN=localhost" broker.ext
cat broker.key broker.crt >broker.pem
rm -f broker.ext broker.key broker.crt

printf 'extendedKeyUsage=clientAuth\n' >client.ext
signed client "/CN=ridepulse-client" client.ext
rm -f client.ext ca.srl

printf 'ridepulse %s\n' "$(openssl rand -hex 12)" >users
chmod 600 ./*.key users broker.pem
