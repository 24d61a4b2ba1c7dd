#!/usr/bin/env bash
# The admin API's TypeScript types, generated from proto/admin.proto (the one source of the contract)
# by @grpc/proto-loader's generator with the options proto/load.ts loads it with. The output is
# committed; proto/admin-types.test.ts fails when it no longer matches the .proto.
# Usage: scripts/gen-admin-types.sh [OUT_DIR]   (default: proto/generated)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-proto/generated}"
rm -rf "$out"
node_modules/.bin/proto-loader-gen-types \
  --keepCase --longs=Number --enums=String --defaults --arrays --objects --oneofs \
  --grpcLib=@grpc/grpc-js --importFileExtension=.js \
  -O "$out" proto/admin.proto >/dev/null
