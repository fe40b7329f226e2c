package controllers

// The manager's ClusterRole (config/rbac/role.yaml and the chart's
// manager-role-rules.yaml, generated from these markers). A program is a
// namespace, and any namespace may hold one, so the rules are cluster-wide;
// each grants the least that a controller needs, and why is said above it.
// Leader election (a Lease in the manager's namespace), the webhook's
// certificate Secret and its MutatingWebhookConfiguration's caBundle are
// separate, narrower Roles (config/rbac/leader_election_role.yaml,
// config/webhook/rbac.yaml). The manager holds no escalate, bind or
// impersonate verb: the collector Roles it creates grant only what it holds
// itself.

// Read the program: every controller watches its kind and the kinds its
// kind refers to.
// +kubebuilder:rbac:groups=cx.cxloop.io,resources=surveytouchpoints;alertrules;casetemplates;notificationchannels;reportsubscriptions,verbs=get;list;watch

// Write each kind's status, and only status: the spec is the user's.
// +kubebuilder:rbac:groups=cx.cxloop.io,resources=surveytouchpoints/status;alertrules/status;casetemplates/status;notificationchannels/status;reportsubscriptions/status;cases/status,verbs=get;update;patch

// Cases: the lifecycle applies template defaults and escalation (update,
// patch), aggregate rules open strategic Cases (create), retention deletes
// archived Cases (delete). merge-responses is held only so that the
// manager may grant it in collector Roles (RBAC refuses to grant what the
// granter lacks).
// +kubebuilder:rbac:groups=cx.cxloop.io,resources=cases,verbs=get;list;watch;create;update;patch;delete;merge-responses

// Secrets: the metadata cache (list, watch) tells whether referenced
// Secrets exist; get reads channel credentials for notifications and the
// collectors' API tokens for their private surface; create makes each
// touchpoint's API token Secret once (never update or delete: it is owned
// by the touchpoint and garbage-collected with it).
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create

// A touchpoint's collector: its ConfigMap, ServiceAccount, Service,
// workload (StatefulSet or Deployment), PodDisruptionBudget, and the
// Role and RoleBinding that give its ServiceAccount the collector's
// permissions in that namespace. All are owned by the touchpoint.
// +kubebuilder:rbac:groups="",resources=configmaps;services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=statefulsets;deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete

// The manager reads its own pod for its image (the collectors' default).
// +kubebuilder:rbac:groups="",resources=pods,verbs=get

// Events on the objects the controllers reconcile.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
