"""The embedded demo, apart from the numerical core: readers of the npm data packages' text
(corpus), the demo task suite built from them (tasks, suite), the embedded tiny model's
pretraining recipe (pretrain) and its fine-tune check (check). The core never imports this
package; the boundary resolves demo task sources into plain file sources before an op runs."""
