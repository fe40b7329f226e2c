package rules

import (
	"fmt"
	"reflect"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// objectType is a CEL struct type with a fixed set of typed fields, known
// to the type checker (unknown fields and mistyped comparisons fail to
// compile) and backed at run time by an *object holding one CEL value per
// field. It is registered with cel.Types, as a types.StructTypeDescriptor.
type objectType struct {
	name    string
	celType *types.Type
	names   []string
	index   map[string]int
	fields  map[string]*types.FieldType
	// zero[i] is what reading field i gives when it is not set; when it is
	// nil, reading is the error missing[i]. (Errors are wrapped afresh on
	// each read: the interpreter labels an error value with the node that
	// produced it, so one must not be shared between evaluations.)
	zero    []ref.Val
	missing []error
}

// objectField declares one field of an objectType.
type objectField struct {
	name string
	typ  *types.Type
	// zero is the value read when the field is not set; nil makes the
	// read an error (absentErr).
	zero      ref.Val
	absentErr error
}

const objectTraits = traits.IndexerType | traits.FieldTesterType

func newObjectType(name string, fields []objectField) *objectType {
	t := &objectType{
		name:    name,
		celType: types.NewObjectType(name, objectTraits),
		names:   make([]string, len(fields)),
		index:   make(map[string]int, len(fields)),
		fields:  make(map[string]*types.FieldType, len(fields)),
		zero:    make([]ref.Val, len(fields)),
		missing: make([]error, len(fields)),
	}
	for i, f := range fields {
		t.names[i] = f.name
		t.index[f.name] = i
		t.zero[i] = f.zero
		t.missing[i] = f.absentErr
		t.fields[f.name] = &types.FieldType{
			Type:    f.typ,
			IsSet:   t.isSetFunc(i),
			GetFrom: t.getFromFunc(i),
		}
	}
	return t
}

func (t *objectType) isSetFunc(i int) ref.FieldTester {
	return func(target any) bool {
		o, ok := target.(*object)
		return ok && o.vals[i] != nil
	}
}

func (t *objectType) getFromFunc(i int) ref.FieldGetter {
	return func(target any) (any, error) {
		o, ok := target.(*object)
		if !ok {
			return nil, fmt.Errorf("%s: unexpected value of type %T", t.name, target)
		}
		if v := o.vals[i]; v != nil {
			return v, nil
		}
		if z := t.zero[i]; z != nil {
			return z, nil
		}
		return nil, t.missing[i]
	}
}

// newObject returns an object of this type with no field set.
func (t *objectType) newObject() *object {
	return &object{typ: t, vals: make([]ref.Val, len(t.names))}
}

// HasTrait implements ref.Type.
func (t *objectType) HasTrait(trait int) bool { return objectTraits&trait == trait }

// TypeName implements ref.Type.
func (t *objectType) TypeName() string { return t.name }

// ReflectType implements types.StructTypeDescriptor; there is no Go type
// behind an objectType.
func (t *objectType) ReflectType() reflect.Type { return nil }

// FieldNames implements types.StructTypeDescriptor.
func (t *objectType) FieldNames() []string { return t.names }

// FindFieldType implements types.StructTypeDescriptor.
func (t *objectType) FindFieldType(name string) (*types.FieldType, bool) {
	f, ok := t.fields[name]
	return f, ok
}

// NewValue implements types.StructTypeDescriptor: expressions read these
// values, they do not build them.
func (t *objectType) NewValue(types.Adapter, map[string]ref.Val) ref.Val {
	return types.NewErr("%s values cannot be created in an expression", t.name)
}

// Adapt implements types.StructTypeDescriptor.
func (t *objectType) Adapt(_ types.Adapter, value any) ref.Val {
	if o, ok := value.(*object); ok && o.typ == t {
		return o
	}
	return types.NewErr("cannot convert %T to %s", value, t.name)
}

// object is a value of an objectType. A nil entry of vals is a field that
// is not set.
type object struct {
	typ  *objectType
	vals []ref.Val
}

var _ traits.Indexer = (*object)(nil)
var _ traits.FieldTester = (*object)(nil)

// ConvertToNative implements ref.Val.
func (o *object) ConvertToNative(typeDesc reflect.Type) (any, error) {
	if reflect.TypeOf(o).AssignableTo(typeDesc) {
		return o, nil
	}
	return nil, fmt.Errorf("%s cannot be converted to %v", o.typ.name, typeDesc)
}

// ConvertToType implements ref.Val.
func (o *object) ConvertToType(typeVal ref.Type) ref.Val {
	switch typeVal {
	case types.TypeType:
		return o.typ.celType
	case o.typ.celType:
		return o
	}
	if typeVal.TypeName() == o.typ.name {
		return o
	}
	return types.NewErr("type conversion error from '%s' to '%s'", o.typ.name, typeVal)
}

// Equal implements ref.Val: objects are equal when every field is.
func (o *object) Equal(other ref.Val) ref.Val {
	p, ok := other.(*object)
	if !ok || p.typ != o.typ {
		return types.False
	}
	for i, v := range o.vals {
		w := p.vals[i]
		if (v == nil) != (w == nil) {
			return types.False
		}
		if v != nil && v.Equal(w) != types.True {
			return types.False
		}
	}
	return types.True
}

// Type implements ref.Val.
func (o *object) Type() ref.Type { return o.typ.celType }

// Value implements ref.Val.
func (o *object) Value() any { return o }

// Get implements traits.Indexer, used when a field is read by a path the
// checker could not type (for example through dyn).
func (o *object) Get(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.ValOrErr(index, "no such key: %v", index)
	}
	i, ok := o.typ.index[string(name)]
	if !ok {
		return types.NewErr("no such field '%s' in %s", name, o.typ.name)
	}
	if v := o.vals[i]; v != nil {
		return v
	}
	if z := o.typ.zero[i]; z != nil {
		return z
	}
	return types.WrapErr(o.typ.missing[i])
}

// IsSet implements traits.FieldTester.
func (o *object) IsSet(field ref.Val) ref.Val {
	name, ok := field.(types.String)
	if !ok {
		return types.ValOrErr(field, "no such key: %v", field)
	}
	i, ok := o.typ.index[string(name)]
	if !ok {
		return types.NewErr("no such field '%s' in %s", name, o.typ.name)
	}
	return types.Bool(o.vals[i] != nil)
}
