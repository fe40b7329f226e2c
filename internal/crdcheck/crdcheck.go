package crdcheck

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	apiextensionsfeatures "k8s.io/apiextensions-apiserver/pkg/features"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/operation"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/common"
	utilfeature "k8s.io/apiserver/pkg/util/feature"

	"github.com/cxloop/cxloop/config/crd"
)

// Checker validates objects of the kinds of a set of CRDs.
type Checker struct {
	kinds map[schema.GroupVersionKind]*kind
}

// kind is what the API server builds for one served version of a CRD.
type kind struct {
	gvk        schema.GroupVersionKind
	namespaced bool
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
	status     bool
}

// New reads the CRDs cxloop ships (config/crd/bases, embedded).
func New() (*Checker, error) {
	var docs [][]byte
	err := fs.WalkDir(crd.Bases, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		b, err := fs.ReadFile(crd.Bases, p)
		docs = append(docs, b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return FromYAML(docs...)
}

// FromYAML builds a Checker from CustomResourceDefinition manifests.
func FromYAML(docs ...[]byte) (*Checker, error) {
	c := &Checker{kinds: map[schema.GroupVersionKind]*kind{}}
	for _, doc := range docs {
		def := &apiextensionsv1.CustomResourceDefinition{}
		if err := utilyaml.Unmarshal(doc, def); err != nil {
			return nil, fmt.Errorf("read CustomResourceDefinition: %w", err)
		}
		if err := c.add(def); err != nil {
			return nil, fmt.Errorf("CustomResourceDefinition %s: %w", def.Name, err)
		}
	}
	return c, nil
}

// add builds the validators of every served version, as the API server's
// CRD handler does (customresource_handler.go).
func (c *Checker) add(def *apiextensionsv1.CustomResourceDefinition) error {
	for _, v := range def.Spec.Versions {
		if !v.Served || v.Schema == nil {
			continue
		}
		internal := &apiextensionsinternal.CustomResourceValidation{}
		if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, internal, nil); err != nil {
			return fmt.Errorf("convert schema of %s: %w", v.Name, err)
		}
		s, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
		if err != nil {
			return fmt.Errorf("structural schema of %s: %w", v.Name, err)
		}
		s = s.DeepCopy()
		if err := structuraldefaulting.PruneDefaults(s); err != nil {
			return fmt.Errorf("prune defaults of %s: %w", v.Name, err)
		}
		validator, _, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
		if err != nil {
			return fmt.Errorf("schema validator of %s: %w", v.Name, err)
		}
		gvk := schema.GroupVersionKind{Group: def.Spec.Group, Version: v.Name, Kind: def.Spec.Names.Kind}
		c.kinds[gvk] = &kind{
			gvk:        gvk,
			namespaced: def.Spec.Scope == apiextensionsv1.NamespaceScoped,
			structural: s,
			validator:  validator,
			cel:        cel.NewValidator(s, true, celconfig.PerCallLimit),
			status:     v.Subresources != nil && v.Subresources.Status != nil,
		}
	}
	return nil
}

// Handles reports whether gvk is a kind of the Checker's CRDs.
func (c *Checker) Handles(gvk schema.GroupVersionKind) bool {
	_, ok := c.kinds[gvk]
	return ok
}

// HandlesGroup reports whether group is the group of one of the CRDs (an
// object of that group with an unknown kind or version is an error, not
// someone else's object).
func (c *Checker) HandlesGroup(group string) bool {
	for gvk := range c.kinds {
		if gvk.Group == group {
			return true
		}
	}
	return false
}

// Kinds lists the kinds handled, sorted.
func (c *Checker) Kinds() []string {
	out := make([]string, 0, len(c.kinds))
	for gvk := range c.kinds {
		out = append(out, gvk.Kind+"."+gvk.Group+"/"+gvk.Version)
	}
	sort.Strings(out)
	return out
}

// Result is the outcome of one create or update.
type Result struct {
	// Object is what the API server would store: pruned, defaulted,
	// without status on create. Nil when the request was refused before
	// validation (unknown kind, unknown fields).
	Object *unstructured.Unstructured
	// Errors are the validation errors, as in the Invalid (422) response's
	// causes: Field and ErrorBody() are the cause's field and message.
	Errors field.ErrorList
	// UnknownFields are the paths strict decoding refuses (a 400 with
	// `strict decoding error: unknown field "<path>"`).
	UnknownFields []string
}

// Create validates obj as a create in namespace ns (used when the object
// sets none, as `kubectl apply -n` does).
func (c *Checker) Create(ctx context.Context, obj *unstructured.Unstructured, ns string) (Result, error) {
	k, u, res, err := c.decode(obj, ns)
	if err != nil || u == nil {
		return res, err
	}
	// PrepareForCreate: create cannot set status; generation starts at 1.
	if k.status {
		delete(u.Object, "status")
	}
	u.SetGeneration(1)
	u.SetResourceVersion("1")
	if u.GetName() == "" && u.GetGenerateName() != "" {
		u.SetName(u.GetGenerateName() + "xxxxx")
	}

	var errs field.ErrorList
	// customResourceStrategy.Validate.
	meta, merrs := objectMeta(u)
	errs = append(errs, typeMetaErrors(k, u)...)
	if len(errs) == 0 {
		errs = append(errs, merrs...)
		if meta != nil {
			errs = append(errs, apivalidation.ValidateObjectMetaDeclaratively(ctx, operation.Create, meta, nil, k.namespaced,
				apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"), false)...)
		}
		errs = append(errs, apiservervalidation.ValidateCustomResource(nil, u.UnstructuredContent(), k.validator)...)
	}
	errs = append(errs, schemaobjectmeta.Validate(ctx, nil, u.Object, k.structural, false)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, k.structural, u.Object)...)
	if blocking, e := hasBlockingErr(errs); blocking {
		errs = append(errs, e)
	} else {
		celErrs, _ := k.cel.Validate(ctx, nil, k.structural, u.Object, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	// rest.ValidateCreate: common object metadata after the strategy.
	if len(errs) == 0 && meta != nil {
		errs = append(errs, apivalidation.ValidateObjectMetaAccessor(meta, k.namespaced, validatePathSegment, field.NewPath("metadata"))...)
	}
	res.Object, res.Errors = u, errs
	return res, nil
}

// Update validates obj as an update of old, an object a previous Create or
// Update returned (what the API server holds).
func (c *Checker) Update(ctx context.Context, obj, old *unstructured.Unstructured, ns string) (Result, error) {
	k, u, res, err := c.decode(obj, ns)
	if err != nil || u == nil {
		return res, err
	}
	// BeforeUpdate and PrepareForUpdate: status is kept (it has its own
	// subresource), identity and generation come from the stored object.
	if k.status {
		if st, ok := old.Object["status"]; ok {
			u.Object["status"] = st
		} else {
			delete(u.Object, "status")
		}
	}
	u.SetGeneration(old.GetGeneration())
	if !equalNonMetadata(u, old) {
		u.SetGeneration(old.GetGeneration() + 1)
	}
	u.SetUID(old.GetUID())
	u.SetCreationTimestamp(old.GetCreationTimestamp())
	// kubectl apply sends a patch, which updates the version it read.
	if u.GetResourceVersion() == "" {
		u.SetResourceVersion(old.GetResourceVersion())
	}

	var errs field.ErrorList
	correlated := common.NewCorrelatedObject(u.Object, old.Object, &model.Structural{Structural: k.structural})
	var options []apiservervalidation.ValidationOption
	var celOptions []cel.Option
	if utilfeature.DefaultFeatureGate.Enabled(apiextensionsfeatures.CRDValidationRatcheting) {
		options = append(options, apiservervalidation.WithRatcheting(correlated))
		celOptions = append(celOptions, cel.WithRatcheting(correlated))
	}
	errs = append(errs, typeMetaErrors(k, u)...)
	meta, merrs := objectMeta(u)
	oldMeta, oerrs := objectMeta(old)
	if len(errs) == 0 {
		errs = append(errs, merrs...)
		errs = append(errs, oerrs...)
		if meta != nil && oldMeta != nil {
			errs = append(errs, apivalidation.ValidateObjectMetaDeclaratively(ctx, operation.Update, meta, oldMeta, k.namespaced,
				nil, field.NewPath("metadata"), false)...)
		}
		errs = append(errs, apiservervalidation.ValidateCustomResourceUpdate(nil, u.UnstructuredContent(), old.UnstructuredContent(), k.validator, options...)...)
	}
	errs = append(errs, schemaobjectmeta.Validate(ctx, nil, u.Object, k.structural, false)...)
	if oldErrs := structurallisttype.ValidateListSetsAndMaps(nil, k.structural, old.Object); len(oldErrs) == 0 {
		errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, k.structural, u.Object)...)
	}
	if blocking, e := hasBlockingErr(errs); blocking {
		errs = append(errs, e)
	} else {
		celErrs, _ := k.cel.Validate(ctx, nil, k.structural, u.Object, old.Object, celconfig.RuntimeCELCostBudget, celOptions...)
		errs = append(errs, celErrs...)
	}
	// rest.ValidateUpdate: common object metadata after the strategy.
	if len(errs) == 0 && meta != nil && oldMeta != nil {
		errs = append(errs, apivalidation.ValidateObjectMetaAccessorUpdate(meta, oldMeta, field.NewPath("metadata"))...)
	}
	res.Object, res.Errors = u, errs
	return res, nil
}

// decode does what the API server's decoder does to a request body of a
// custom resource: strict decoding reports unknown fields; pruning,
// metadata coercion and defaulting give the object validation sees.
func (c *Checker) decode(obj *unstructured.Unstructured, ns string) (*kind, *unstructured.Unstructured, Result, error) {
	gvk := obj.GroupVersionKind()
	k, ok := c.kinds[gvk]
	if !ok {
		return nil, nil, Result{}, fmt.Errorf("no matches for kind %q in version %q", gvk.Kind, gvk.GroupVersion())
	}
	u := obj.DeepCopy()
	var res Result
	_, _, metaUnknown, err := schemaobjectmeta.GetObjectMetaWithOptions(u.Object, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return nil, nil, res, err
	}
	res.UnknownFields = append(res.UnknownFields, metaUnknown...)
	res.UnknownFields = append(res.UnknownFields, structuralpruning.PruneWithOptions(u.Object, k.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(u.Object, k.structural)
	ferr, paths := schemaobjectmeta.CoerceWithOptions(nil, u.Object, k.structural, false, schemaobjectmeta.CoerceOptions{ReturnUnknownFieldPaths: true})
	if ferr != nil {
		res.Errors = field.ErrorList{ferr}
		return k, nil, res, nil
	}
	res.UnknownFields = append(res.UnknownFields, paths...)
	if len(res.UnknownFields) > 0 {
		sort.Strings(res.UnknownFields)
		return k, nil, res, nil
	}
	structuraldefaulting.Default(u.Object, k.structural)
	if k.namespaced && u.GetNamespace() == "" {
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		u.SetNamespace(ns)
	}
	return k, u, res, nil
}

// typeMetaErrors is customResourceValidator.ValidateTypeMeta.
func typeMetaErrors(k *kind, u *unstructured.Unstructured) field.ErrorList {
	var errs field.ErrorList
	if u.GetKind() != k.gvk.Kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), u.GetKind(), fmt.Sprintf("must be %v", k.gvk.Kind)))
	}
	if want := k.gvk.GroupVersion().String(); u.GetAPIVersion() != want {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), u.GetAPIVersion(), fmt.Sprintf("must be %v", want)))
	}
	return errs
}

// objectMeta is customresource.getObjectMeta.
func objectMeta(u *unstructured.Unstructured) (*metav1.ObjectMeta, field.ErrorList) {
	raw := u.Object["metadata"]
	if raw == nil {
		return &metav1.ObjectMeta{}, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, field.ErrorList{field.Invalid(field.NewPath("metadata"), raw, fmt.Sprintf("expected map[string]any, got %T", raw))}
	}
	meta := &metav1.ObjectMeta{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, meta); err != nil {
		return nil, field.ErrorList{field.Invalid(field.NewPath("metadata"), raw, err.Error())}
	}
	return meta, nil
}

// validatePathSegment is rest.validatePathSegment: a name must be usable
// as a URL path segment.
func validatePathSegment(name string, prefix bool) []string {
	if prefix {
		return content.IsPathSegmentPrefix(name)
	}
	return content.IsPathSegmentName(name)
}

// hasBlockingErr is the strategy's rule that CEL rules do not run on an
// object that failed basic schema validation.
func hasBlockingErr(errs field.ErrorList) (bool, *field.Error) {
	for _, err := range errs {
		switch err.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return true, field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation")
		}
	}
	return false, nil
}

// equalNonMetadata reports whether everything but metadata is the same
// (PrepareForUpdate bumps the generation otherwise).
func equalNonMetadata(a, b *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		out := make(map[string]any, len(u.Object))
		for k, v := range u.Object {
			if k != "metadata" {
				out[k] = v
			}
		}
		return out
	}
	return apiequality.Semantic.DeepEqual(strip(a), strip(b))
}
