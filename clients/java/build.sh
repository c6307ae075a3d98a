#!/bin/sh
# Generates the JAX-WS proxies from the committed WSDLs with wsimport (Debian: jaxws), compiles them with the demo,
# and writes BUILD_DIR/smsgw-demo, a launcher with the runtime classpath.
#
#   ./build.sh [BUILD_DIR]        (default: ./build)
#   BUILD_DIR/smsgw-demo BASE_URL ACCOUNT PASSWORD [ACCOUNT_ID]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
wsdl=$(cd "$here/../../wsdl" && pwd)
build=${1:-"$here/build"}

# Debian's JAX-WS 2.3 RI and JAXB 2.3, which Java 11+ no longer ships. jaxws-rt.jar's manifest names the rest of the
# runtime (saaj-impl, streambuffer, stax-ex, policy, …); these are the jars the generated code and the demo use
# directly, and the JAXB runtime with javax.activation, which it needs on Java 11+.
jars=/usr/share/java
CLASSPATH_RT="$jars/jaxws-api.jar:$jars/jws-api.jar:$jars/jaxb-api.jar:$jars/jaxws-rt.jar:$jars/jaxb-impl.jar"
CLASSPATH_RT="$CLASSPATH_RT:$jars/jaxb-core.jar:$jars/javax.activation.jar:$jars/saaj-impl.jar"

rm -rf "$build"
mkdir -p "$build/generated" "$build/classes/wsdl/native" "$build/classes/wsdl/puzzel"

# One run per WSDL: a run with both would list each service's JAXB factories in the other's @XmlSeeAlso.
# The native API's namespace urn:smsgw:v1 maps to the package smsgw.v1; Puzzel's keep their default packages
# (com.intele.chimera.gw.…), since its four namespaces cannot share one package (-p).
# wsimport prints its warnings ([WARNING] …) to stdout and still succeeds (-quiet would hide them); a clean run
# prints only its progress lines, so anything else fails the build.
generate() {
  out=$(wsimport -keep -Xnocompile -d "$build/generated" "$@" 2>&1) || { printf '%s\n' "$out" >&2; exit 1; }
  warnings=$(printf '%s\n' "$out" | grep -v -e '^parsing WSDL\.\.\.$' -e '^Generating code\.\.\.$' -e '^ *$' || true)
  if [ -n "$warnings" ]; then
    printf 'wsimport %s:\n%s\n' "$*" "$warnings" >&2
    exit 1
  fi
}
generate -p smsgw.v1 "$wsdl/native/smsgw-v1.wsdl"
generate "$wsdl/puzzel/SMSGatewayV10.wsdl"

find "$build/generated" -name '*.java' > "$build/sources.txt"
echo "$here/SmsgwDemo.java" >> "$build/sources.txt"
javac -Werror -encoding UTF-8 -cp "$CLASSPATH_RT" -d "$build/classes" "@$build/sources.txt"

# The proxies read their WSDL from the classpath; the endpoint address is set at run time.
cp "$wsdl/native/smsgw-v1.wsdl" "$build/classes/wsdl/native/"
cp "$wsdl/puzzel/SMSGatewayV10.wsdl" "$wsdl/puzzel/"SMSGateway*-2013-02.xsd "$build/classes/wsdl/puzzel/"

# The property names the SAAJ factory the way SAAJ 1.4 wants it; without it each call logs a deprecation WARNING.
cat > "$build/smsgw-demo" <<EOF
#!/bin/sh
exec java -Djavax.xml.soap.SAAJMetaFactory=com.sun.xml.messaging.saaj.soap.SAAJMetaFactoryImpl \\
  -cp "$build/classes:$CLASSPATH_RT" SmsgwDemo "\$@"
EOF
chmod +x "$build/smsgw-demo"
