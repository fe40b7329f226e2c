package inbox_test

import (
	"testing"

	"github.com/cxloop/cxloop/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, "./internal/inbox/") }
