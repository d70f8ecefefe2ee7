//! The all-in-one mesh on random ports, driven through the gateway's HTTP API.

mod admin;
mod behaviours;
mod exchange;
mod journey;
mod mall;
mod partners;
mod play;
mod points;
mod problems;
