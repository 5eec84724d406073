package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Every kind with conditions gives them through GetConditions and
// SetConditions, so one set of condition helpers serves them all (as
// cluster-api's conditions.Getter and Setter do).

// GetConditions returns the tenant's status.conditions.
func (t *SaaSTenant) GetConditions() []metav1.Condition { return t.Status.Conditions }

// SetConditions replaces the tenant's status.conditions.
func (t *SaaSTenant) SetConditions(c []metav1.Condition) { t.Status.Conditions = c }

// GetConditions returns the licence's status.conditions.
func (l *License) GetConditions() []metav1.Condition { return l.Status.Conditions }

// SetConditions replaces the licence's status.conditions.
func (l *License) SetConditions(c []metav1.Condition) { l.Status.Conditions = c }

// GetConditions returns the directory's status.conditions.
func (d *SaaSDirectory) GetConditions() []metav1.Condition { return d.Status.Conditions }

// SetConditions replaces the directory's status.conditions.
func (d *SaaSDirectory) SetConditions(c []metav1.Condition) { d.Status.Conditions = c }

// GetConditions returns the product's status.conditions.
func (p *SaaSProduct) GetConditions() []metav1.Condition { return p.Status.Conditions }

// SetConditions replaces the product's status.conditions.
func (p *SaaSProduct) SetConditions(c []metav1.Condition) { p.Status.Conditions = c }

// GetConditions returns the notification's status.conditions.
func (n *OrderNotification) GetConditions() []metav1.Condition { return n.Status.Conditions }

// SetConditions replaces the notification's status.conditions.
func (n *OrderNotification) SetConditions(c []metav1.Condition) { n.Status.Conditions = c }
