//! The web client (`web/`) in front of the all-in-one mesh: its pages over HTTP as a browser
//! sends them ([`pages`]), and the journeys in headless Chromium with an accessibility check
//! on every main page ([`browser`]).

mod browser;
mod pages;
