// Package controllers holds kooper's reconcilers. They act on the SaaSProduct
// objects that describe what is sold and on what the receiver (package
// webhook) records: SaaSTenant, License and SaaSDirectory objects. Setup
// registers them with a manager.
package controllers
