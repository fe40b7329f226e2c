package controllers

// The manager's permissions in a program namespace: the ClusterRole
// manager-role (config/rbac/role.yaml and the chart's
// manager-role-rules.yaml, generated from these markers). It is bound with
// a RoleBinding in each program namespace (config/program; the chart's
// programNamespaces), and the manager runs with --program-namespaces, so it
// caches, reads and writes only there: it cannot read a Secret, create a
// Role or run a pod in any other namespace. Only a manager started without
// --program-namespaces (every namespace) needs it bound cluster-wide.
//
// Each rule grants the least a controller needs, and why is said above it.
// Outside the program namespaces the manager holds only narrower grants:
// leader election (a Lease in its namespace,
// config/rbac/leader_election_role.yaml), its own pod (get, for its image:
// config/rbac/manager_pod_role.yaml), the webhook's certificate Secret and
// its MutatingWebhookConfiguration's caBundle (config/webhook/rbac.yaml,
// by resourceNames), and TokenReview/SubjectAccessReview for metrics
// (config/rbac/metrics_auth_role.yaml). It holds no escalate, bind or
// impersonate verb: the collector Roles it creates grant only what it holds
// itself in that namespace.

// Read the program: every controller watches its kind and the kinds its
// kind refers to.
// +kubebuilder:rbac:groups=cx.cxloop.io,resources=surveytouchpoints;alertrules;casetemplates;notificationchannels;reportsubscriptions,verbs=get;list;watch

// Write each kind's status, and only status: the spec is the user's.
// +kubebuilder:rbac:groups=cx.cxloop.io,resources=surveytouchpoints/status;alertrules/status;casetemplates/status;notificationchannels/status;reportsubscriptions/status;cases/status,verbs=get;update;patch

// Cases: the lifecycle applies template defaults and escalation (update,
// patch), aggregate rules open strategic Cases (create), retention deletes
// archived Cases (delete). merge-responses and record-customer-answer are
// held only so that the manager may grant them in collector Roles (RBAC
// refuses to grant what the granter lacks).
// +kubebuilder:rbac:groups=cx.cxloop.io,resources=cases,verbs=get;list;watch;create;update;patch;delete;merge-responses;record-customer-answer

// Secrets, in the program namespaces only: the metadata cache (list,
// watch) tells whether referenced Secrets exist; get reads channel
// credentials for notifications and the collectors' API tokens for their
// private surface, and lets the manager grant a collector get on exactly
// the Secrets it needs (RBAC refuses to grant what the granter lacks);
// create makes each touchpoint's API token Secret once (never update or
// delete: it is owned by the touchpoint and garbage-collected with it).
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create

// A touchpoint's collector: its ConfigMap, ServiceAccount, Service,
// workload (StatefulSet or Deployment), PodDisruptionBudget, and the
// Role and RoleBinding that give its ServiceAccount the collector's
// permissions in that namespace. All are owned by the touchpoint; list and
// watch are the cache of the objects the controller owns.
// +kubebuilder:rbac:groups="",resources=configmaps;services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=statefulsets;deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete

// Events on the objects the controllers reconcile.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
