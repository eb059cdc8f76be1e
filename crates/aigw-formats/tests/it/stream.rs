//! Stream fixtures, re-fed at every split offset.
