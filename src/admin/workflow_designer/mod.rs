//! 流程设计 and 试算.

mod edit;
mod editor;
