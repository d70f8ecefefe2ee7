//! The all-in-one mesh on random ports, driven through the gateway's HTTP API.

mod admin;
mod behaviours;
mod cors;
mod counter;
mod edges;
mod exchange;
mod expiry;
mod files;
mod imports;
mod journey;
mod mall;
mod notify;
mod observe;
mod partners;
mod play;
mod points;
mod problems;
mod rights;
mod station;
