//! The client's filter builder: any field, operator and values, rendered for each API dialect.
//! A rendered filter reads back as `field:op:values`; a refused one says which field and why.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use jumpwatch_api::{Filter, Op};
use jumpwatch_model::catalog::Api;
use libfuzzer_sys::fuzz_target;

const OPS: [Op; 8] = [Op::Eq, Op::Ne, Op::Gt, Op::Ge, Op::Lt, Op::Le, Op::In, Op::Search];

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let (Ok(field), Ok(op), Ok(values)) =
        (String::arbitrary(&mut u), u.choose(&OPS), Vec::<String>::arbitrary(&mut u))
    else {
        return;
    };
    let filter = match (op, values.as_slice()) {
        (Op::In, _) => Filter::is_in(field.clone(), values.clone()),
        (op, [value]) => Filter::new(field.clone(), *op, value.clone()),
        (op, _) => Filter::new(field.clone(), *op, values.concat()),
    };
    for api in [Api::V1, Api::V2, Api::Insights] {
        match filter.render(api) {
            Ok(text) => {
                let (f, rest) = text.split_once(':').unwrap_or_default();
                assert_eq!(f, field, "{text}");
                let (_op, value) = rest.split_once(':').unwrap_or_default();
                if *op == Op::In {
                    assert_eq!(value.split('|').collect::<Vec<_>>(), values, "{text}");
                }
            }
            Err(error) => {
                let text = error.to_string();
                assert!(text.contains(&format!("`{field}`")), "{text}");
            }
        }
    }
});
