//! What the resource catalog says about one kind, and how its example documents read.
//!
//! ```text
//! cargo run -p jumpwatch-examples --example explain_kind -- user
//! ```

use std::process::ExitCode;

use jumpwatch_model::{Normalizer, Resource, ResourceKind};

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    let name = std::env::args().nth(1).unwrap_or_else(|| "user".to_owned());
    let kind: ResourceKind = match name.parse() {
        Ok(kind) => kind,
        Err(error) => {
            eprintln!("{error}");
            let names: Vec<&str> = ResourceKind::ALL.iter().map(|k| k.name()).collect();
            eprintln!("kinds: {}", names.join(", "));
            return ExitCode::from(2);
        }
    };
    let meta = kind.meta();
    println!("{} — {}", meta.name, meta.title);
    println!("{}", meta.description);
    println!("list: GET {}{}", meta.api.base_path(), meta.list_path);
    if let Some(parent) = meta.parent {
        println!("listed per {} ({{{}}})", parent.kind, parent.param);
    }
    println!("SQL view: {} ({} columns)", meta.view.name, meta.view.columns.len() + 2);
    println!("volatile: {:?}", meta.volatile);
    println!("secret: {:?}", meta.secret);

    let normalizer = Normalizer::for_kind(kind);
    for (example, json) in meta.examples {
        let doc: serde_json::Value = match serde_json::from_str(json) {
            Ok(doc) => doc,
            Err(error) => {
                eprintln!("example {example}: {error}");
                return ExitCode::FAILURE;
            }
        };
        // Relations are listed per parent: give them one.
        let resource = match meta.parent {
            Some(_) => {
                let parent = jumpwatch_model::ResourceId::new("parent0000000000000000000").ok();
                parent.map(|p| Resource::from_child_doc(kind, p, doc.clone()))
            }
            None => Some(Resource::from_doc(kind, doc.clone())),
        };
        match resource {
            Some(Ok(resource)) => {
                println!(
                    "\nexample {example}: id {} name {:?} hash {}",
                    resource.id,
                    resource.name,
                    &normalizer.hash(&resource.doc).to_hex()[..16]
                );
                println!("normalized: {}", normalizer.normalize(&resource.doc));
            }
            Some(Err(error)) => println!("\nexample {example}: {error}"),
            None => println!("\nexample {example}: no parent id"),
        }
    }
    ExitCode::SUCCESS
}
