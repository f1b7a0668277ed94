"""What a customer grants spotopt inside a cluster: the narrowest RBAC a drain needs, and for EKS the access
entry that maps our role to it. Shown on the onboarding, register and cluster pages and in the README."""

GROUP = "spotopt:node-drainers"

RBAC_YAML = f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: spotopt-node-drainer
rules:
  - apiGroups: [""]
    resources: ["nodes"]
    verbs: ["get", "list", "patch"]
  - apiGroups: [""]
    resources: ["pods"]
    verbs: ["get", "list"]
  - apiGroups: [""]
    resources: ["pods/eviction"]
    verbs: ["create"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: spotopt-node-drainer
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: spotopt-node-drainer
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: Group
    name: {GROUP}
  # Self-managed clusters: the service account whose token you register.
  - kind: ServiceAccount
    name: spotopt
    namespace: kube-system
"""


def eks_access_commands(cluster) -> str:
    """The two commands that let the account's spotopt role into an EKS cluster as the group above."""
    account = cluster.account
    # Access-keys accounts: the IAM user the keys belong to (its ARN), not a role.
    role = account.role_arn or f"arn:aws:iam::{account.account_id}:user/THE-USER-OF-SPOTOPTS-KEYS"
    region = cluster.region or account.region
    return (
        f"aws eks create-access-entry --region {region} --cluster-name {cluster.name} \\\n"
        f"  --principal-arn {role} --kubernetes-groups {GROUP}\n"
        "kubectl apply -f spotopt-node-drainer.yaml   # the ClusterRole and binding below"
    )


def registered_token_commands() -> str:
    return (
        "kubectl -n kube-system create serviceaccount spotopt\n"
        "kubectl apply -f spotopt-node-drainer.yaml\n"
        "kubectl -n kube-system create token spotopt --duration=8760h   # Kubernetes >= 1.24"
    )
