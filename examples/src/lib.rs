//! Small programs, each showing one way to use the Jumpwatch libraries. Run one with
//! `cargo run -p jumpwatch-examples --example <name>`:
//!
//! - `explain_kind`: what the catalog says about a kind, and how its example documents decode.
//! - `list_resources`: every resource of one kind from JumpCloud (or the simulator), one JSON
//!   document a line.
//! - `changes`: polls the built-in simulated tenant twice around a burst of everyday changes, and
//!   prints the change events field by field.
//! - `monitor`: the `Monitor` embedded in a tokio service, reacting to its events.
//! - `simulator_in_tests`: how to test your own code that talks to JumpCloud against the
//!   simulator.
//! - `enrichment`: a collector of your own that adds an enrichment to each system.
