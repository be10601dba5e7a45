#!/usr/bin/env bash
# Create or update the `edgeopt-s3` secret (manifests/base/s3-secret.template.yaml) without
# writing its values anywhere but the cluster: rendered in memory, piped to `kubectl apply -f -`.
#
#   s3-secret.sh [--context CTX] --from-kfp-minio   # KFP standalone's own MinIO (local clusters)
#   s3-secret.sh [--context CTX] --from-env         # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
#                                                   # AWS_DEFAULT_REGION, EDGEOPT_S3_ENDPOINT_URL
set -euo pipefail
TEMPLATE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/base/s3-secret.template.yaml"
CTX=()
MODE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --context) CTX=(--context "$2"); shift 2 ;;
    --from-kfp-minio|--from-env) MODE=$1; shift ;;
    *) echo "s3-secret.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$MODE" = --from-kfp-minio ]; then
  get() { kubectl "${CTX[@]}" -n kubeflow get secret mlpipeline-minio-artifact -o "jsonpath={.data.$1}" | base64 -d; }
  AWS_ACCESS_KEY_ID=$(get accesskey)
  AWS_SECRET_ACCESS_KEY=$(get secretkey)
  AWS_DEFAULT_REGION=us-east-1
  EDGEOPT_S3_ENDPOINT_URL=http://minio-service.kubeflow:9000
elif [ "$MODE" != --from-env ]; then
  echo "s3-secret.sh: pass --from-kfp-minio or --from-env" >&2; exit 2
fi
for v in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; do
  [ -n "${!v:-}" ] || { echo "s3-secret.sh: $v is empty" >&2; exit 2; }
done
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} EDGEOPT_S3_ENDPOINT_URL=${EDGEOPT_S3_ENDPOINT_URL:-}
# Substitute only the four ${...} placeholders (python: no envsubst needed); values never echoed.
python3 - "$TEMPLATE" <<'PY' | kubectl "${CTX[@]}" apply -f -
import json, os, re, sys
text = open(sys.argv[1]).read()
print(re.sub(r'"\$\{(\w+)\}"', lambda m: json.dumps(os.environ.get(m.group(1), "")), text))
PY
