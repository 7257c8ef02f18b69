@0xb7e1c2a4d5f60718;
struct Placeholder { x @0 :UInt32; }
