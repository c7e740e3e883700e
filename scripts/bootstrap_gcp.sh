#!/usr/bin/env bash
# One-time Google Cloud setup for this repository's workflows; safe to re-run (describe, else create).
#
#   scripts/bootstrap_gcp.sh --project my-project --region us-central1 --bucket my-project-mnist \
#       --github-repo my-user/vertex-mnist-cicd [--dry-run]
#
# Every flag can come from the environment instead: PROJECT, REGION, BUCKET, GITHUB_REPO, and the optional
# AR_REPO (default mlops, as pipeline.toml's vertex.artifact_registry), RUNTIME_SA (a service account jobs
# run as; none by default, so Vertex AI's own service agent runs them). GITHUB_REPO's numeric id and its
# owner's are looked up with `gh api repos/OWNER/NAME`, or given as GITHUB_REPO_ID and GITHUB_OWNER_ID.
# --dry-run prints the plan and the gcloud commands (on stderr) and changes nothing.
#
# Two identities, each behind its own Workload Identity pool whose one GitHub OIDC provider admits only
# tokens of GITHUB_REPO's repository and owner ids (a name can be deleted and registered again):
#   training   mnist-train@   pool github-train:  train.yml running on refs/heads/main of GITHUB_REPO.
#              Custom role mnistTrainer (custom jobs, Model Registry reads and uploads; no endpoint
#              permission), Artifact Registry writer (the repository), Storage object admin (the bucket);
#              with RUNTIME_SA, service account user on it.
#   deploying  mnist-deploy@  pool github-deploy: a job in the `production` environment of release.yml or
#              rollback.yml running on a v* tag of GITHUB_REPO. Vertex AI user (endpoints, traffic,
#              aliases), Storage object viewer (the bucket, for the model card's metrics.json).
# Re-running updates both providers' conditions. Then it prints the GitHub repository variables to set.
# Needs gcloud, logged in as a project owner.
set -euo pipefail

usage() {
  sed -n '2,23s/^# \{0,1\}//p' "$0" >&2
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
RUNTIME_SA=${RUNTIME_SA:-}
PROVIDER=github-actions # one provider per pool, so each pool's condition is the whole rule for its identity

# The names end up in CEL conditions and resource paths: accept only what Google and GitHub allow.
[[ $PROJECT =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] || fail "PROJECT '$PROJECT' is not a project id (--project)"
[[ $REGION =~ ^[a-z]+-[a-z]+[0-9]+$ ]] || fail "REGION '$REGION' is not a region such as us-central1 (--region)"
[[ $BUCKET =~ ^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$ ]] || fail "BUCKET '$BUCKET' is not a bucket name (--bucket)"
[[ $GITHUB_REPO =~ ^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$ ]] || fail "GITHUB_REPO '$GITHUB_REPO' is not owner/name"
[[ $AR_REPO =~ ^[a-z][a-z0-9-]{0,62}$ ]] || fail "AR_REPO '$AR_REPO' is not a repository id"
[[ -z $RUNTIME_SA || $RUNTIME_SA == *@*.iam.gserviceaccount.com ]] || fail "RUNTIME_SA must be an email"
if [[ $DRY_RUN != 1 ]] && ! command -v gcloud >/dev/null; then
  fail "gcloud is not installed: https://cloud.google.com/sdk/docs/install"
fi

# The ids GitHub puts in every OIDC token (repository_id, repository_owner_id). Names can be re-registered by
# someone else once deleted or renamed; ids cannot, so the conditions match ids, as google-github-actions/auth's
# security considerations recommend (https://github.com/google-github-actions/auth#security-considerations).
if [[ -z ${GITHUB_REPO_ID:-} || -z ${GITHUB_OWNER_ID:-} ]]; then
  command -v gh >/dev/null || fail "looking up $GITHUB_REPO's ids needs gh (https://cli.github.com), \
or set GITHUB_REPO_ID and GITHUB_OWNER_ID"
  GITHUB_REPO_ID=$(gh api "repos/$GITHUB_REPO" --jq .id </dev/null) || fail "gh could not look up $GITHUB_REPO"
  GITHUB_OWNER_ID=$(gh api "repos/$GITHUB_REPO" --jq .owner.id </dev/null) || fail "gh could not look up $GITHUB_REPO"
fi
[[ $GITHUB_REPO_ID =~ ^[0-9]+$ ]] || fail "GitHub's repository id for $GITHUB_REPO is '$GITHUB_REPO_ID', not digits"
[[ $GITHUB_OWNER_ID =~ ^[0-9]+$ ]] || fail "GitHub's owner id for $GITHUB_REPO is '$GITHUB_OWNER_ID', not digits"

TRAIN_SA="mnist-train@$PROJECT.iam.gserviceaccount.com"
DEPLOY_SA="mnist-deploy@$PROJECT.iam.gserviceaccount.com"
WORKFLOWS="$GITHUB_REPO/.github/workflows"
# GitHub's OIDC claims (https://docs.github.com/en/actions/reference/security/oidc): `ref` is what triggered
# the run, `job_workflow_ref` the workflow file the job comes from and its ref, `environment` the job's
# environment (absent without one, and then the comparison fails). Conditions are CEL, as
# https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines sets them.
# The claims are strings, so the ids are compared as strings.
IDS="assertion.repository_id == '$GITHUB_REPO_ID' && assertion.repository_owner_id == '$GITHUB_OWNER_ID'"
TRAIN_CONDITION="$IDS && assertion.ref == 'refs/heads/main' && \
assertion.job_workflow_ref == '$WORKFLOWS/train.yml@refs/heads/main'"
DEPLOY_CONDITION="$IDS && assertion.environment == 'production' && \
assertion.ref.startsWith('refs/tags/v') && \
(assertion.job_workflow_ref.startsWith('$WORKFLOWS/release.yml@refs/tags/v') || \
assertion.job_workflow_ref.startsWith('$WORKFLOWS/rollback.yml@refs/tags/v'))"
# What train.yml's steps call as the training identity, and nothing else: submit_training (customJobs), the
# gate (reads production's version), register (models.upload, with `candidate` among the new version's aliases).
# No aiplatform.endpoints.* at all, so it cannot deploy, undeploy or change traffic; no models.update, so it
# cannot move an alias (`production`) on an existing version. Names from
# https://cloud.google.com/vertex-ai/docs/general/iam-permissions, where an operation a call returns is read
# with that resource's .get permission (models.get for an upload's). See docs/cloud-setup.md.
TRAIN_ROLE=mnistTrainer
TRAIN_PERMISSIONS=(
  aiplatform.customJobs.create aiplatform.customJobs.get aiplatform.customJobs.list aiplatform.customJobs.cancel
  aiplatform.models.upload aiplatform.models.get aiplatform.models.list
)
MAPPING="google.subject=assertion.sub,attribute.repository=assertion.repository,attribute.ref=assertion.ref,\
attribute.repository_id=assertion.repository_id,attribute.repository_owner_id=assertion.repository_owner_id"

# gcloud, or in a dry run the command as it would run (on stderr, beside gcloud's own messages).
g() {
  if [[ $DRY_RUN == 1 ]]; then
    echo "+ gcloud $(printf '%q ' "$@")" >&2
  else
    gcloud --project "$PROJECT" --quiet "$@"
  fi
}

# note DONE VERB TEXT: "DONE: TEXT" after the fact, or in a dry run "plan:    VERB TEXT" (no DONE: a detail line).
note() {
  if [[ $DRY_RUN == 1 ]]; then
    echo "plan:    ${2:+$2 }$3"
  else
    printf '%-8s %s\n' "${1:+$1:}" "$3"
  fi
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

# identity KIND SA_EMAIL POOL CONDITION: the account, its pool, the pool's provider (created, or brought up to
# date with CONDITION), and the right for that pool's identities from GITHUB_REPO to act as the account.
identity() {
  local kind=$1 sa=$2 pool=$3 condition=$4 oidc
  ensure "$kind service account $sa" iam service-accounts describe "$sa" -- \
    iam service-accounts create "${sa%%@*}" --display-name "GitHub Actions $kind for $GITHUB_REPO"
  ensure "Workload Identity pool $pool" iam workload-identity-pools describe "$pool" --location global -- \
    iam workload-identity-pools create "$pool" --location global --display-name "GitHub Actions $kind"
  oidc=(--workload-identity-pool "$pool" --location global --attribute-mapping "$MAPPING"
    --attribute-condition "$condition")
  if [[ $DRY_RUN != 1 ]] && g iam workload-identity-pools providers describe "$PROVIDER" \
    --workload-identity-pool "$pool" --location global >/dev/null 2>&1; then
    g iam workload-identity-pools providers update-oidc "$PROVIDER" "${oidc[@]}" >/dev/null
    echo "updated: OIDC provider $pool/$PROVIDER"
    # Earlier versions bound the pool's tokens by repository name; the id binding below replaces it.
    g iam service-accounts remove-iam-policy-binding "$sa" --role roles/iam.workloadIdentityUser \
      --member "principalSet://iam.googleapis.com/$POOL_ROOT/$pool/attribute.repository/$GITHUB_REPO" \
      >/dev/null 2>&1 || true # absent already
  else
    g iam workload-identity-pools providers create-oidc "$PROVIDER" "${oidc[@]}" \
      --issuer-uri https://token.actions.githubusercontent.com >/dev/null
    note created create "OIDC provider $pool/$PROVIDER unless it exists (else update its condition)"
  fi
  note "" "" "  $kind tokens accepted only when: $condition"
  g iam service-accounts add-iam-policy-binding "$sa" --role roles/iam.workloadIdentityUser \
    --member "principalSet://iam.googleapis.com/$POOL_ROOT/$pool/attribute.repository_id/$GITHUB_REPO_ID" >/dev/null
  note granted grant "pool $pool's tokens from $GITHUB_REPO the right to act as $sa"
}

# --- Preflight and cleanup rules (kept apart from the IAM part above and below) ---------------------------------
# What the pipeline needs at once in REGION, in vCPUs (pipeline.toml's [vertex] machines): one n1-standard-4
# training replica; two n1-standard-4 serving replicas during a canary (production beside the candidate).
TRAINING_CPUS=${TRAINING_CPUS:-4}
SERVING_CPUS=${SERVING_CPUS:-8}
# Objects under runs/ (each training run's model, checkpoints, logs, gate verdict) are deleted at this age;
# a version registered earlier can then no longer be deployed or rolled back to. 0 keeps them forever.
RUNS_MAX_AGE_DAYS=${RUNS_MAX_AGE_DAYS:-365}
BATCH_MAX_AGE_DAYS=${BATCH_MAX_AGE_DAYS:-30} # batch_predict's inputs and outputs under batch/
KEEP_IMAGES=${KEEP_IMAGES:-10}               # trainer images kept besides those tagged keep-*
IMAGE_MAX_AGE=${IMAGE_MAX_AGE:-30d}          # older trainer images (neither recent nor keep-*) are deleted
for number in TRAINING_CPUS SERVING_CPUS RUNS_MAX_AGE_DAYS BATCH_MAX_AGE_DAYS KEEP_IMAGES; do
  [[ ${!number} =~ ^[0-9]+$ ]] || fail "$number '${!number}' is not a whole number"
done
[[ $IMAGE_MAX_AGE =~ ^[1-9][0-9]*d$ ]] || fail "IMAGE_MAX_AGE '$IMAGE_MAX_AGE' is not a number of days such as 30d"

# stop TEXT: the one line that ends a failed preflight.
stop() {
  echo "bootstrap_gcp: $*" >&2
  exit 1
}

# Billing first: without it `services enable` fails with a longer message that does not say so plainly.
preflight_billing() {
  local enabled
  if [[ $DRY_RUN == 1 ]]; then
    g billing projects describe "$PROJECT" --format 'value(billingEnabled)'
    note "" check "that billing is enabled on $PROJECT (stop if not)"
    return
  fi
  enabled=$(g billing projects describe "$PROJECT" --format 'value(billingEnabled)' 2>/dev/null) ||
    stop "cannot read the billing of project $PROJECT (gcloud billing projects describe $PROJECT); are you its owner?"
  [[ ${enabled,,} == true ]] || stop "billing is not enabled on project $PROJECT: link an account with" \
    "gcloud billing projects link $PROJECT --billing-account ACCOUNT_ID"
  echo "checked: billing is enabled on $PROJECT"
}

# quota_limit METRIC: the effective limit of a Vertex AI quota in REGION ("" when it cannot be read). Vertex AI's
# regional quotas are consumer quota buckets keyed by region (the one without a region is the default).
quota_limit() {
  local rows region limit fallback=""
  rows=$(g alpha services quota list --service aiplatform.googleapis.com --consumer "projects/$PROJECT" \
    --filter "metric=aiplatform.googleapis.com/$1" --flatten 'consumerQuotaLimits[].quotaBuckets[]' \
    --format 'csv[no-heading](consumerQuotaLimits.quotaBuckets.dimensions.region,consumerQuotaLimits.quotaBuckets.effectiveLimit)' \
    2>/dev/null) || return 0
  while IFS=, read -r region limit; do
    [[ $region == "$REGION" ]] && { echo "$limit"; return 0; }
    [[ -z $region ]] && fallback=$limit
  done <<<"$rows"
  echo "$fallback"
}

# The quotas for N1 machines' vCPUs (custom_model_training_cpus, custom_model_serving_cpus): new projects often
# have 0 in a region, and a job or deploy then waits or fails long after this script ends.
preflight_quotas() {
  local metric needed limit
  for pair in "custom_model_training_cpus:$TRAINING_CPUS" "custom_model_serving_cpus:$SERVING_CPUS"; do
    metric=${pair%%:*} needed=${pair##*:}
    if [[ $DRY_RUN == 1 ]]; then
      note "" check "quota aiplatform.googleapis.com/$metric in $REGION >= $needed vCPUs (stop if not)"
      continue
    fi
    limit=$(quota_limit "$metric")
    if [[ ! $limit =~ ^-?[0-9]+$ ]]; then
      echo "warning: could not read quota aiplatform.googleapis.com/$metric in $REGION; check it by hand" >&2
    elif ((limit != -1 && limit < needed)); then # -1 is "unlimited"
      stop "quota aiplatform.googleapis.com/$metric in $REGION is $limit vCPUs, the pipeline needs $needed:" \
        "request more at https://console.cloud.google.com/iam-admin/quotas?project=$PROJECT"
    else
      echo "checked: quota $metric in $REGION is ${limit/#-1/unlimited} (needs $needed vCPUs)"
    fi
  done
}

# Lifecycle rules of the bucket (https://cloud.google.com/storage/docs/lifecycle): delete by age under runs/
# and batch/. Replaces the bucket's lifecycle configuration as a whole.
bucket_lifecycle() {
  local rules=() file
  ((RUNS_MAX_AGE_DAYS > 0)) && rules+=("{\"action\": {\"type\": \"Delete\"}, \"condition\": {\"age\": $RUNS_MAX_AGE_DAYS, \"matchesPrefix\": [\"runs/\"]}}")
  ((BATCH_MAX_AGE_DAYS > 0)) && rules+=("{\"action\": {\"type\": \"Delete\"}, \"condition\": {\"age\": $BATCH_MAX_AGE_DAYS, \"matchesPrefix\": [\"batch/\"]}}")
  file=$(mktemp)
  (IFS=,; echo "{\"rule\": [${rules[*]}]}") >"$file"
  g storage buckets update "gs://$BUCKET" --lifecycle-file "$file" >/dev/null
  note set set "lifecycle of gs://$BUCKET: delete runs/ objects after $RUNS_MAX_AGE_DAYS days (0: never), batch/ after $BATCH_MAX_AGE_DAYS days: $(cat "$file")"
  rm -f "$file"
}

# Cleanup policies of the repository (https://cloud.google.com/artifact-registry/docs/repositories/cleanup-policy):
# Keep wins over Delete; keep the last KEEP_IMAGES trainer images and every image tagged keep-* (tag a registered
# version's image so), delete the rest once older than IMAGE_MAX_AGE.
registry_cleanup() {
  local file
  file=$(mktemp)
  cat >"$file" <<POLICY
[{"name": "keep-recent", "action": {"type": "Keep"}, "mostRecentVersions": {"keepCount": $KEEP_IMAGES}},
 {"name": "keep-pinned", "action": {"type": "Keep"}, "condition": {"tagState": "tagged", "tagPrefixes": ["keep-"]}},
 {"name": "delete-old", "action": {"type": "Delete"}, "condition": {"tagState": "any", "olderThan": "$IMAGE_MAX_AGE"}}]
POLICY
  g artifacts repositories set-cleanup-policies "$AR_REPO" --location "$REGION" --policy "$file" --no-dry-run >/dev/null
  note set set "cleanup policy of $AR_REPO: keep the last $KEEP_IMAGES images and keep-* tags, delete others older than $IMAGE_MAX_AGE: $(tr -d '\n' <"$file")"
  rm -f "$file"
}
# --- end of preflight and cleanup rules ---------------------------------------------------------------------

echo "bootstrap_gcp: project=$PROJECT region=$REGION bucket=gs://$BUCKET repo=$GITHUB_REPO dry_run=$DRY_RUN"

preflight_billing

g services enable aiplatform.googleapis.com artifactregistry.googleapis.com storage.googleapis.com \
  iam.googleapis.com iamcredentials.googleapis.com sts.googleapis.com cloudresourcemanager.googleapis.com
note enabled enable "the Vertex AI, Artifact Registry, Storage, IAM and STS APIs"
preflight_quotas

ensure "bucket gs://$BUCKET ($REGION)" storage buckets describe "gs://$BUCKET" -- \
  storage buckets create "gs://$BUCKET" --location "$REGION" --uniform-bucket-level-access \
  --public-access-prevention
ensure "Artifact Registry repository $AR_REPO" artifacts repositories describe "$AR_REPO" --location "$REGION" -- \
  artifacts repositories create "$AR_REPO" --location "$REGION" --repository-format docker \
  --description "Trainer images built by GitHub Actions"
bucket_lifecycle
registry_cleanup

if [[ $DRY_RUN == 1 ]]; then
  PROJECT_NUMBER=PROJECT_NUMBER
else
  PROJECT_NUMBER=$(g projects describe "$PROJECT" --format 'value(projectNumber)')
fi
POOL_ROOT="projects/$PROJECT_NUMBER/locations/global/workloadIdentityPools"

identity training "$TRAIN_SA" github-train "$TRAIN_CONDITION"
identity deploying "$DEPLOY_SA" github-deploy "$DEPLOY_CONDITION"

permissions=$(IFS=,; echo "${TRAIN_PERMISSIONS[*]}")
ensure "custom role $TRAIN_ROLE" iam roles describe "$TRAIN_ROLE" -- \
  iam roles create "$TRAIN_ROLE" --title "MNIST training from GitHub Actions" --stage GA --permissions "$permissions"
if [[ $DRY_RUN != 1 ]]; then # re-running brings an existing role's permissions up to date
  g iam roles update "$TRAIN_ROLE" --permissions "$permissions" >/dev/null
fi
note "" "" "  role $TRAIN_ROLE permits only: ${TRAIN_PERMISSIONS[*]}"

# Adding a binding that is already there changes nothing, so these need no describe.
g projects add-iam-policy-binding "$PROJECT" --member "serviceAccount:$TRAIN_SA" \
  --role "projects/$PROJECT/roles/$TRAIN_ROLE" --condition None >/dev/null
g projects add-iam-policy-binding "$PROJECT" --member "serviceAccount:$DEPLOY_SA" --role roles/aiplatform.user \
  --condition None >/dev/null
g artifacts repositories add-iam-policy-binding "$AR_REPO" --location "$REGION" --member "serviceAccount:$TRAIN_SA" \
  --role roles/artifactregistry.writer >/dev/null
g storage buckets add-iam-policy-binding "gs://$BUCKET" --member "serviceAccount:$TRAIN_SA" \
  --role roles/storage.objectAdmin >/dev/null
g storage buckets add-iam-policy-binding "gs://$BUCKET" --member "serviceAccount:$DEPLOY_SA" \
  --role roles/storage.objectViewer >/dev/null
if [[ -n $RUNTIME_SA ]]; then
  g iam service-accounts add-iam-policy-binding "$RUNTIME_SA" --member "serviceAccount:$TRAIN_SA" \
    --role roles/iam.serviceAccountUser >/dev/null
fi
note granted grant "$TRAIN_SA the training roles and $DEPLOY_SA the deploying roles"

cat <<EOF

identities:
  training   $TRAIN_SA   train.yml on refs/heads/main
  deploying  $DEPLOY_SA   environment production, release.yml or rollback.yml on a v* tag

Set these GitHub repository variables (Settings -> Secrets and variables -> Actions -> Variables),
or run the gh commands:

  gh variable set GCP_PROJECT --repo $GITHUB_REPO --body $PROJECT
  gh variable set GCP_REGION --repo $GITHUB_REPO --body $REGION
  gh variable set GCS_BUCKET --repo $GITHUB_REPO --body $BUCKET
  gh variable set GCP_TRAIN_WORKLOAD_IDENTITY_PROVIDER --repo $GITHUB_REPO --body $POOL_ROOT/github-train/providers/$PROVIDER
  gh variable set GCP_TRAIN_SERVICE_ACCOUNT --repo $GITHUB_REPO --body $TRAIN_SA
  gh variable set GCP_DEPLOY_WORKLOAD_IDENTITY_PROVIDER --repo $GITHUB_REPO --body $POOL_ROOT/github-deploy/providers/$PROVIDER
  gh variable set GCP_DEPLOY_SERVICE_ACCOUNT --repo $GITHUB_REPO --body $DEPLOY_SA

Then protect the release path on GitHub: scripts/bootstrap_github.sh --github-repo $GITHUB_REPO
EOF
