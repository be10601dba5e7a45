#!/usr/bin/env bash
# edgeopt on a local Kubernetes cluster with Kubeflow Pipelines standalone, step by step:
#
#   manifests/scripts/cluster.sh kind|minikube STEP
#
#   create        create the cluster (kind: cluster "edgeopt"; minikube: profile "edgeopt")
#   install-kfp   install Kubeflow Pipelines standalone $KFP_VERSION and wait until it is ready
#   images        build the edgeopt images into the cluster (kind load docker-image / minikube image build)
#   apply         apply manifests/overlays/<cluster> and the S3 secret (from KFP's own MinIO)
#   port-forward  forward the KFP UI and API to http://localhost:$UI_PORT (runs until Ctrl-C)
#   demo          upload the digits demo to MinIO and submit the pipeline on it (port-forward running)
#   sweep-demo    the same upload, then submit edge-sweep with the sweep demo's targets and grid
#   up            create, install-kfp, images, apply, then port-forward
#   down          delete the cluster
#
# Needs kubectl, and kind or minikube; `images` for kind needs Docker or podman (DOCKER_HOST).
# Run from anywhere; paths are relative to the repository.
set -euo pipefail

CLUSTER=${1:?usage: cluster.sh kind|minikube STEP}
STEP=${2:?usage: cluster.sh kind|minikube STEP}
NAME=${EDGEOPT_CLUSTER_NAME:-edgeopt}
KFP_VERSION=${KFP_VERSION:-2.14.3}            # Kubeflow Pipelines standalone release, pinned
UI_PORT=${UI_PORT:-8080}
MINIO_PORT=${MINIO_PORT:-9000}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EDGEOPT=${EDGEOPT:-$REPO/.venv/bin/edgeopt}
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
KFP_MANIFESTS="github.com/kubeflow/pipelines/manifests/kustomize"

case "$CLUSTER" in
  kind) CONTEXT="kind-$NAME" ;;
  minikube) CONTEXT="$NAME" ;;
  *) echo "cluster.sh: the cluster is kind or minikube, not '$CLUSTER'" >&2; exit 2 ;;
esac
kc() { kubectl --context "$CONTEXT" "$@"; }
say() { echo "==> $*" >&2; }

create() {
  if [ "$CLUSTER" = kind ]; then
    kind get clusters 2>/dev/null | grep -qx "$NAME" || kind create cluster --name "$NAME" --wait 120s
  else
    minikube status -p "$NAME" >/dev/null 2>&1 || minikube start -p "$NAME" --cpus 4 --memory 8g
  fi
  kc cluster-info
}

install_kfp() {
  say "installing Kubeflow Pipelines $KFP_VERSION (standalone, platform-agnostic)"
  kc apply -k "$KFP_MANIFESTS/cluster-scoped-resources?ref=$KFP_VERSION"
  kc wait --for condition=established --timeout=60s crd/applications.app.k8s.io
  kc apply -k "$KFP_MANIFESTS/env/platform-agnostic?ref=$KFP_VERSION"
  say "waiting for the KFP deployments (a few minutes the first time: images are pulled)"
  kc -n kubeflow wait --for=condition=Available --timeout=900s deployment --all
}

images() {
  # Every image is built from the repository root; names, tags and build order come from
  # `edgeopt images list --plan` (base, tf, then each stage FROM its parent), the same tag
  # `edgeopt compile` gives the pipeline: VERSION-gSHA for a development checkout.
  if [ "$CLUSTER" = kind ]; then
    (cd "$REPO" && "$EDGEOPT" images build --quiet)
    for ref in $("$EDGEOPT" images list --stages); do
      say "kind load docker-image $ref"
      if command -v docker >/dev/null && docker image inspect "$ref" >/dev/null 2>&1; then
        kind load docker-image --name "$NAME" "$ref"
      else                                                 # podman: go through an archive
        archive=$(mktemp --suffix .tar)
        podman save -o "$archive" "$ref"
        kind load image-archive --name "$NAME" "$archive"
        rm -f "$archive"
      fi
    done
  else
    # minikube builds inside the cluster's own engine, parents first.
    "$EDGEOPT" images list --plan | while read -r name ref dockerfile parent; do
      say "minikube image build $ref"
      if [ "$parent" = - ]; then
        arg="build-arg=PYTHON_IMAGE=${EDGEOPT_PYTHON_IMAGE:-python:3.11-slim}"
      else
        arg="build-arg=BASE_IMAGE=$parent"
      fi
      (cd "$REPO" && minikube -p "$NAME" image build -t "$ref" -f "$dockerfile" --build-opt="$arg" .)
    done
  fi
}

apply() {
  say "applying manifests/overlays/$CLUSTER"
  kc apply -k "$REPO/manifests/overlays/$CLUSTER"
  "$REPO/manifests/scripts/s3-secret.sh" --context "$CONTEXT" --from-kfp-minio
}

port_forward() {
  say "KFP UI and API at http://localhost:$UI_PORT (Ctrl-C stops)"
  kc -n kubeflow port-forward svc/ml-pipeline-ui "$UI_PORT:80"
}

upload_demo() {
  # Upload the demo model and data to KFP's MinIO (forwarded for the upload).
  say "uploading the digits demo to s3://mlpipeline/edgeopt-demo/"
  kc -n kubeflow port-forward svc/minio-service "$MINIO_PORT:9000" >/dev/null &
  local pf=$!
  trap 'kill $pf 2>/dev/null || true' RETURN
  sleep 3
  AWS_ACCESS_KEY_ID=$(kc -n kubeflow get secret mlpipeline-minio-artifact -o jsonpath='{.data.accesskey}' | base64 -d) \
  AWS_SECRET_ACCESS_KEY=$(kc -n kubeflow get secret mlpipeline-minio-artifact -o jsonpath='{.data.secretkey}' | base64 -d) \
  EDGEOPT_S3_ENDPOINT_URL="http://localhost:$MINIO_PORT" \
    "$PYTHON" "$REPO/manifests/scripts/upload_demo.py" s3://mlpipeline/edgeopt-demo
}

demo() {
  upload_demo
  "$EDGEOPT" submit --host "http://localhost:$UI_PORT" --pipeline edge-optimize \
    --experiment edgeopt-demo --service-account edgeopt-runner \
    --param model_uri=s3://mlpipeline/edgeopt-demo/digits_cnn.keras \
    --param data_uri=s3://mlpipeline/edgeopt-demo/digits.npz \
    --param targets=@"$REPO/manifests/base/targets/cortex-m4f-80mhz.yaml" \
    --param registry=s3://mlpipeline/edgeopt-registry --param model_name=digits-cnn \
    --param distill_enabled=true --wait
}

sweep_demo() {
  # The sweep demo's targets and the grid `edgeopt sweep --demo` sizes from them, then edge-sweep.
  upload_demo
  local plan
  plan=$(mktemp -d)
  trap 'rm -rf "$plan"' RETURN
  "$EDGEOPT" sweep --demo --plan-only --output "$plan/out" > "$plan/recipes.json"
  "$EDGEOPT" submit --host "http://localhost:$UI_PORT" --pipeline edge-sweep \
    --experiment edgeopt-demo --service-account edgeopt-runner \
    --param model_uri=s3://mlpipeline/edgeopt-demo/digits_cnn.keras \
    --param data_uri=s3://mlpipeline/edgeopt-demo/digits.npz \
    --param targets=@"$plan/out/inputs/targets.yaml" \
    --param "recipes=$(tr -d '\n' < "$plan/recipes.json")" \
    --param registry=s3://mlpipeline/edgeopt-registry --param model_name=digits-cnn --wait
}

down() {
  if [ "$CLUSTER" = kind ]; then kind delete cluster --name "$NAME"; else minikube delete -p "$NAME"; fi
}

case "$STEP" in
  create) create ;;
  install-kfp) install_kfp ;;
  images) images ;;
  apply) apply ;;
  port-forward) port_forward ;;
  demo) demo ;;
  sweep-demo) sweep_demo ;;
  up) create; install_kfp; images; apply; port_forward ;;
  down) down ;;
  *) echo "cluster.sh: unknown step '$STEP' (create install-kfp images apply port-forward demo up down)" >&2; exit 2 ;;
esac
