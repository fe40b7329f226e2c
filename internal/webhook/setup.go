package webhook

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// RenewEvery is how often the manager checks its certificate.
const RenewEvery = 24 * time.Hour

// Add registers the Case webhook with mgr's webhook server, makes sure the
// serving certificate exists before the server starts (certs.Client may be
// nil: a direct client is made from mgr's configuration) and renews it daily
// while the manager runs. audit configures the Case webhook's clock and
// skew (nil: the wall clock and DefaultSkew; the demo passes its
// accelerated clock).
func Add(ctx context.Context, mgr manager.Manager, certs *Certificates, audit *CaseAudit) error {
	if certs.Client == nil {
		c, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
		if err != nil {
			return fmt.Errorf("webhook certificate client: %w", err)
		}
		certs.Client = c
	}
	if err := certs.Ensure(ctx); err != nil {
		return err
	}
	if audit == nil {
		audit = &CaseAudit{}
	}
	audit.Decoder = admission.NewDecoder(mgr.GetScheme())
	mgr.GetWebhookServer().Register(CasePath, &admission.Webhook{Handler: audit})
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		log := ctrl.Log.WithName("webhook-certificate")
		t := time.NewTicker(RenewEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if err := certs.Ensure(ctx); err != nil {
					log.Error(err, "renew the webhook certificate; will retry", "in", RenewEvery)
				}
			}
		}
	}))
}
