#!/bin/sh
# Generates the ASMX client proxies from the committed WSDLs with Mono's wsdl tool (Debian: mono-devel), and
# compiles them with the demo into BUILD_DIR/SmsgwDemo.exe.
#
#   ./build.sh [BUILD_DIR]        (default: ./build)
#   mono BUILD_DIR/SmsgwDemo.exe BASE_URL ACCOUNT PASSWORD [ACCOUNT_ID]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
wsdl=$(cd "$here/../../wsdl" && pwd)
build=${1:-"$here/build"}

rm -rf "$build"
mkdir -p "$build/generated"

# One file and one namespace per service. wsdl writes its warnings to stdout; a clean run prints only
# "Writing file '…'" (on two lines when the path is long), so anything else fails the build.
generate() {
  out=$(wsdl /nologo /out:"$build/generated/$1.cs" /namespace:"$2" "$3")
  warnings=$(printf '%s\n' "$out" | grep -v -e "^Writing file" -e "^'$build/generated/$1.cs'\$" || true)
  if [ -n "$warnings" ]; then
    printf 'wsdl %s:\n%s\n' "$3" "$warnings" >&2
    exit 1
  fi
}
generate SmsgwV1 Smsgw.V1 "$wsdl/native/smsgw-v1.wsdl"
generate PuzzelV10 Puzzel.V10 "$wsdl/puzzel/SMSGatewayV10.wsdl"

mcs -nologo -warnaserror+ -target:exe -out:"$build/SmsgwDemo.exe" \
  -r:System.Web.Services -r:System.Xml \
  "$build/generated/SmsgwV1.cs" "$build/generated/PuzzelV10.cs" "$here/SmsgwDemo.cs"
