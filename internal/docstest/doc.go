// Package docstest holds a test that keeps the documentation true: every
// YAML example in README.md and docs/ must be accepted by the parser it is
// written for. It has no code of its own.
package docstest
