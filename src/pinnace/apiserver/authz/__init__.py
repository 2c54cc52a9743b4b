"""Authorization: RBAC, the Node authorizer, escalation prevention, access reviews and impersonation.

How the pieces fit:

- :mod:`.rules` — one PolicyRule: does it allow a request; do some rules cover others.
- :mod:`.rbac` — the RBAC authorizer over the server's watch caches (indexed by subject).
- :mod:`.node` — the Node authorizer: kubelets reach what their own pods use.
- :mod:`.chain` — system:masters → Node → RBAC, and :func:`enable_rbac`, which installs it all in a server.
- :mod:`.policy` / :mod:`.bootstrap` — upstream's default roles and bindings, created and reconciled at start.
  :mod:`.policy` holds the cluster-wide ones, :mod:`.controller_policy` the controllers', :mod:`.namespace_policy`
  those in kube-system and kube-public, all built with :mod:`.policy_objects`.
- :mod:`.escalation` — store hooks: no role or binding grants more than its author holds.
- :mod:`.reviews` — SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectAccessReview, SelfSubjectRulesReview.
- :mod:`.impersonation` — the Impersonate-* headers, each authorized.
"""

from pinnace.apiserver.authz.chain import RBAC, AuthorizerChain, enable_rbac
from pinnace.apiserver.authz.rbac import RBACAuthorizer

__all__ = ["RBAC", "AuthorizerChain", "RBACAuthorizer", "enable_rbac"]
