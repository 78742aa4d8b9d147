// Package deptest holds the import rules of DESIGN.md in a test: it lists
// every package of the module with "go list -json" and fails on an import
// edge that the allow-list does not name, on a non-test file importing
// internal/testutil, on anything importing cmd/, and on a package without
// a doc comment (in doc.go, except for commands). It has no non-test code.
package deptest
