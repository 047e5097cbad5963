//! Hostile text and answers, both ways: markup from Rapid7 written into HaloITSM, answers from
//! HaloITSM that redirect with the token, are too large, or name files as paths, and webhook
//! deliveries that claim what HaloITSM's history does not show.

mod answers;
mod deliveries;
mod files_and_notes;
mod markup;
