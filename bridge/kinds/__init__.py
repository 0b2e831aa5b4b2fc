"""The built-in kinds of base, one file each (bridge.kinds.kind says what a kind is);
`bridge.base` registers them and parses every spec."""
from bridge.kinds.gr00t import Gr00t
from bridge.kinds.gr00t_server import Gr00tServer
from bridge.kinds.scripted import Scripted
from bridge.kinds.torch_module import TorchModule
from bridge.kinds.zero import Zero

BUILTIN = (Zero(), Scripted(), TorchModule(), Gr00t(), Gr00tServer())
