// Package testutil holds helpers shared by the tests of several packages:
// a settable clock and throwaway PostgreSQL schemas. Only tests import it.
package testutil
