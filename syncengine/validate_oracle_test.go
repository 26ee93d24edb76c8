package syncengine

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"
)

// The reflection validator the compiled rules replaced (validate.go), kept
// as the oracle they must agree with.

var (
	oracleOnce sync.Once
	oracle     *validator.Validate
)

func oracleInstance() *validator.Validate {
	oracleOnce.Do(func() {
		oracle = validator.New(validator.WithRequiredStructEnabled())
		oracle.RegisterTagNameFunc(func(f reflect.StructField) string {
			return strings.Split(f.Tag.Get("json"), ",")[0]
		})
		_ = oracle.RegisterValidation("recordid", func(fl validator.FieldLevel) bool {
			return recordIDRE.MatchString(fl.Field().String())
		})
		_ = oracle.RegisterValidation("tallykey", func(fl validator.FieldLevel) bool {
			return validTallyKey(fl.Field().String())
		})
		// Places are coarse names. A string that looks like coordinates is refused so
		// that a child's GPS position never ends up in a record.
		_ = oracle.RegisterValidation("nocoords", func(fl validator.FieldLevel) bool {
			return !coordsRE.MatchString(fl.Field().String())
		})
	})
	return oracle
}

// Validate checks a record's visible state against its schema and returns the
// rules it breaks, sorted. Unknown types and erased records have no rules.
func validateReflect(r *Record) ([]FieldError, error) {
	s := SchemaFor(r.Type)
	if s == nil || r.Erased != nil {
		return nil, nil
	}
	b, err := json.Marshal(r.Values())
	if err != nil {
		return nil, fmt.Errorf("validate %s: %w", r.ID, err)
	}
	v := reflect.New(s.goType)
	if err := json.Unmarshal(b, v.Interface()); err != nil {
		// A value of the wrong JSON type for its field.
		return []FieldError{{Field: jsonErrorField(err), Rule: "type"}}, nil
	}
	err = oracleInstance().Struct(v.Interface())
	if err == nil {
		return nil, nil
	}
	verrs, ok := err.(validator.ValidationErrors)
	if !ok {
		return nil, fmt.Errorf("validate %s: %w", r.ID, err)
	}
	var out []FieldError
	for _, fe := range verrs {
		name := fe.Namespace()
		if i := strings.IndexByte(name, '.'); i >= 0 {
			name = name[i+1:]
		}
		if i := strings.IndexAny(name, ".["); i >= 0 {
			name = name[:i]
		}
		out = append(out, FieldError{Field: name, Rule: fe.Tag()})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Field != out[j].Field {
			return out[i].Field < out[j].Field
		}
		return out[i].Rule < out[j].Rule
	})
	return out, nil
}

func jsonErrorField(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return te.Field
	}
	return ""
}
