//! The plug-in point for user operators.
//!
//! The built-in operators (redaction, fingerprinting, windowing, embedding) are timely extension
//! traits in `slo-operators`. A user operator does not need to know timely: implement
//! [`RecordOperator`] — one record in, any number out, with whatever state it needs — and chain
//! it anywhere with [`ApplyOperator::apply`]. Streams are ordinary timely streams, so users who
//! do know timely can also write their own operators against them directly.

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;
use timely::progress::Timestamp;

/// A record-at-a-time operator: the unit users plug into a pipeline.
pub trait RecordOperator: 'static {
    /// Records consumed.
    type In: Clone + 'static;
    /// Records produced.
    type Out: Clone + 'static;
    /// Name shown in timely's logs.
    fn name(&self) -> &str;
    /// Handles one record, pushing any outputs onto `out`.
    fn process(&mut self, record: Self::In, out: &mut Vec<Self::Out>);
}

/// Adds [`apply`](ApplyOperator::apply) to timely streams.
pub trait ApplyOperator<'scope, T: Timestamp, D> {
    /// Runs `operator` on every record of the stream (on the worker that holds it).
    ///
    /// ```
    /// use slo_dataflow::operator::{ApplyOperator, RecordOperator};
    /// use timely::dataflow::operators::{ToStream, Capture, capture::Extract};
    ///
    /// /// Drops debug lines and upper-cases the rest.
    /// struct Shout;
    /// impl RecordOperator for Shout {
    ///     type In = String;
    ///     type Out = String;
    ///     fn name(&self) -> &str { "Shout" }
    ///     fn process(&mut self, line: String, out: &mut Vec<String>) {
    ///         if !line.starts_with("DEBUG") { out.push(line.to_uppercase()); }
    ///     }
    /// }
    ///
    /// let captured = timely::example(|scope| {
    ///     vec!["DEBUG x".to_string(), "hello".to_string()]
    ///         .to_stream(scope)
    ///         .container::<Vec<_>>()
    ///         .apply(Shout)
    ///         .capture()
    /// });
    /// let out: Vec<String> = captured.extract().into_iter().flat_map(|(_, v)| v).collect();
    /// assert_eq!(out, vec!["HELLO".to_string()]);
    /// ```
    fn apply<O: RecordOperator<In = D>>(self, operator: O) -> StreamVec<'scope, T, O::Out>;
}

impl<'scope, T: Timestamp, D: Clone + 'static> ApplyOperator<'scope, T, D> for StreamVec<'scope, T, D> {
    fn apply<O: RecordOperator<In = D>>(self, mut operator: O) -> StreamVec<'scope, T, O::Out> {
        let name = operator.name().to_string();
        let mut produced = Vec::new();
        self.unary(Pipeline, &name, move |_cap, _info| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for record in data.drain(..) {
                        operator.process(record, &mut produced);
                        session.give_iterator(produced.drain(..));
                    }
                });
            }
        })
    }
}
