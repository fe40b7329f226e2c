package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// New returns a scheme with the built-in and cxloop types.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(cxv1alpha1.AddToScheme(s))
	return s
}
