#!/usr/bin/env bash
# One-time Google Cloud setup for this repository's workflows; safe to re-run (describe, else create).
#
#   scripts/bootstrap_gcp.sh --project my-project --region us-central1 --bucket my-project-mnist \
#       --github-repo my-user/vertex-mnist-cicd [--dry-run]
#
# Every flag can come from the environment instead: PROJECT, REGION, BUCKET, GITHUB_REPO, and the
# optional AR_REPO (default mlops, as pipeline.toml's vertex.artifact_registry), SA_NAME (github-ci),
# POOL (github), PROVIDER (github-actions), RUNTIME_SA (a service account that jobs run as; none by
# default, so Vertex AI's own service agent runs them). --dry-run prints the gcloud commands instead.
#
# It creates: the APIs; a single-region bucket in the Vertex region; an Artifact Registry Docker repository;
# a CI service account holding only roles/aiplatform.user (project), roles/artifactregistry.writer (the
# repository), roles/storage.objectAdmin (the bucket) and, with RUNTIME_SA, roles/iam.serviceAccountUser
# on that account; a Workload Identity pool with a GitHub OIDC provider that accepts tokens from
# GITHUB_REPO only, and roles/iam.workloadIdentityUser for that repository on the CI account.
# Then it prints the GitHub repository variables to set. Needs gcloud, logged in as a project owner.
set -euo pipefail

usage() {
  sed -n '2,17s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

fail() {
  echo "bootstrap_gcp: $*" >&2
  exit 2
}

DRY_RUN=${DRY_RUN:-0}
[[ $# -eq 0 && -z ${PROJECT:-} ]] && usage
while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT=${2:?--project needs a value}; shift 2 ;;
    --region) REGION=${2:?--region needs a value}; shift 2 ;;
    --bucket) BUCKET=${2:?--bucket needs a value}; shift 2 ;;
    --github-repo) GITHUB_REPO=${2:?--github-repo needs a value}; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage ;;
    *) fail "unknown argument: $1 (see --help)" ;;
  esac
done

PROJECT=${PROJECT:-}
REGION=${REGION:-}
BUCKET=${BUCKET:-}
BUCKET=${BUCKET#gs://}
GITHUB_REPO=${GITHUB_REPO:-}
AR_REPO=${AR_REPO:-mlops}
SA_NAME=${SA_NAME:-github-ci}
POOL=${POOL:-github}
PROVIDER=${PROVIDER:-github-actions}
RUNTIME_SA=${RUNTIME_SA:-}

# The names end up in IAM conditions and resource paths: accept only what Google and GitHub allow.
[[ $PROJECT =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] || fail "PROJECT '$PROJECT' is not a project id (--project)"
[[ $REGION =~ ^[a-z]+-[a-z]+[0-9]+$ ]] || fail "REGION '$REGION' is not a region such as us-central1 (--region)"
[[ $BUCKET =~ ^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$ ]] || fail "BUCKET '$BUCKET' is not a bucket name (--bucket)"
[[ $GITHUB_REPO =~ ^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$ ]] || fail "GITHUB_REPO '$GITHUB_REPO' is not owner/name"
[[ $AR_REPO =~ ^[a-z][a-z0-9-]{0,62}$ ]] || fail "AR_REPO '$AR_REPO' is not a repository id"
[[ $SA_NAME =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] || fail "SA_NAME '$SA_NAME' is not a service account id"
[[ $POOL =~ ^[a-z][a-z0-9-]{2,30}[a-z0-9]$ ]] || fail "POOL '$POOL' is not a pool id"
[[ $PROVIDER =~ ^[a-z][a-z0-9-]{2,30}[a-z0-9]$ ]] || fail "PROVIDER '$PROVIDER' is not a provider id"
[[ -z $RUNTIME_SA || $RUNTIME_SA == *@*.iam.gserviceaccount.com ]] || fail "RUNTIME_SA must be an email"
if [[ $DRY_RUN != 1 ]] && ! command -v gcloud >/dev/null; then
  fail "gcloud is not installed: https://cloud.google.com/sdk/docs/install"
fi

SA_EMAIL="$SA_NAME@$PROJECT.iam.gserviceaccount.com"
MEMBER="serviceAccount:$SA_EMAIL"

# gcloud, or in a dry run the command as it would run (on stderr, beside gcloud's own messages).
g() {
  if [[ $DRY_RUN == 1 ]]; then
    echo "+ gcloud $(printf '%q ' "$@")" >&2
  else
    gcloud --project "$PROJECT" --quiet "$@"
  fi
}

# note DONE VERB TEXT: "DONE: TEXT" after the fact, or in a dry run "plan:    VERB TEXT".
note() {
  if [[ $DRY_RUN == 1 ]]; then echo "plan:    $2 $3"; else printf '%-8s %s\n' "$1:" "$3"; fi
}

# ensure WHAT DESCRIBE_ARGS... -- CREATE_ARGS...: create only when describe finds nothing.
ensure() {
  local what=$1 describe=() create=()
  shift
  while [[ $1 != -- ]]; do describe+=("$1"); shift; done
  shift
  create=("$@")
  if [[ $DRY_RUN == 1 ]]; then
    g "${create[@]}"
    note created create "$what unless it exists"
  elif g "${describe[@]}" >/dev/null 2>&1; then
    echo "exists:  $what"
  else
    g "${create[@]}" >/dev/null
    echo "created: $what"
  fi
}

echo "bootstrap_gcp: project=$PROJECT region=$REGION bucket=gs://$BUCKET repo=$GITHUB_REPO dry_run=$DRY_RUN"

g services enable aiplatform.googleapis.com artifactregistry.googleapis.com storage.googleapis.com \
  iam.googleapis.com iamcredentials.googleapis.com sts.googleapis.com cloudresourcemanager.googleapis.com
note enabled enable "the Vertex AI, Artifact Registry, Storage, IAM and STS APIs"

ensure "bucket gs://$BUCKET ($REGION)" storage buckets describe "gs://$BUCKET" -- \
  storage buckets create "gs://$BUCKET" --location "$REGION" --uniform-bucket-level-access \
  --public-access-prevention
ensure "Artifact Registry repository $AR_REPO" artifacts repositories describe "$AR_REPO" --location "$REGION" -- \
  artifacts repositories create "$AR_REPO" --location "$REGION" --repository-format docker \
  --description "Trainer images built by GitHub Actions"
ensure "service account $SA_EMAIL" iam service-accounts describe "$SA_EMAIL" -- \
  iam service-accounts create "$SA_NAME" --display-name "GitHub Actions CI for $GITHUB_REPO"

# Adding a binding that is already there changes nothing, so these need no describe.
g projects add-iam-policy-binding "$PROJECT" --member "$MEMBER" --role roles/aiplatform.user \
  --condition None >/dev/null
g artifacts repositories add-iam-policy-binding "$AR_REPO" --location "$REGION" --member "$MEMBER" \
  --role roles/artifactregistry.writer >/dev/null
g storage buckets add-iam-policy-binding "gs://$BUCKET" --member "$MEMBER" --role roles/storage.objectAdmin \
  >/dev/null
if [[ -n $RUNTIME_SA ]]; then
  g iam service-accounts add-iam-policy-binding "$RUNTIME_SA" --member "$MEMBER" \
    --role roles/iam.serviceAccountUser >/dev/null
fi
note granted grant "$SA_EMAIL the CI roles"

ensure "Workload Identity pool $POOL" iam workload-identity-pools describe "$POOL" --location global -- \
  iam workload-identity-pools create "$POOL" --location global --display-name "GitHub Actions"
ensure "OIDC provider $PROVIDER (only $GITHUB_REPO)" \
  iam workload-identity-pools providers describe "$PROVIDER" --workload-identity-pool "$POOL" \
  --location global -- \
  iam workload-identity-pools providers create-oidc "$PROVIDER" --workload-identity-pool "$POOL" \
  --location global --issuer-uri https://token.actions.githubusercontent.com \
  --attribute-mapping "google.subject=assertion.sub,attribute.repository=assertion.repository,attribute.repository_owner=assertion.repository_owner,attribute.ref=assertion.ref" \
  --attribute-condition "assertion.repository == '$GITHUB_REPO'"

if [[ $DRY_RUN == 1 ]]; then
  PROJECT_NUMBER=PROJECT_NUMBER
else
  PROJECT_NUMBER=$(g projects describe "$PROJECT" --format 'value(projectNumber)')
fi
POOL_NAME="projects/$PROJECT_NUMBER/locations/global/workloadIdentityPools/$POOL"
g iam service-accounts add-iam-policy-binding "$SA_EMAIL" --role roles/iam.workloadIdentityUser \
  --member "principalSet://iam.googleapis.com/$POOL_NAME/attribute.repository/$GITHUB_REPO" >/dev/null
note granted grant "$GITHUB_REPO's workflows the right to act as $SA_EMAIL"

cat <<EOF

Set these GitHub repository variables (Settings -> Secrets and variables -> Actions -> Variables),
or run the gh commands:

  gh variable set GCP_PROJECT --repo $GITHUB_REPO --body $PROJECT
  gh variable set GCP_REGION --repo $GITHUB_REPO --body $REGION
  gh variable set GCS_BUCKET --repo $GITHUB_REPO --body $BUCKET
  gh variable set GCP_WORKLOAD_IDENTITY_PROVIDER --repo $GITHUB_REPO --body $POOL_NAME/providers/$PROVIDER
  gh variable set GCP_SERVICE_ACCOUNT --repo $GITHUB_REPO --body $SA_EMAIL
EOF
